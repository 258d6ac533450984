/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers whose items livedfs needs beyond kernel::bindings. bindgen
 * generates bindings only for the items named in rust/bindgen_allowlist;
 * every other type comes from kernel::bindings, so `struct inode` and
 * friends stay one type.
 */
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/crc32c.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/fileattr.h>
#include <linux/fiemap.h>
#include <linux/exportfs.h>
#include <linux/jbd2.h>
#include <linux/timekeeping.h>
#include <crypto/hash.h>
#include <linux/mpage.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/statfs.h>
#include <linux/xattr.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/security.h>
#include "helpers.h"
