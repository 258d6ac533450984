/* SPDX-License-Identifier: GPL-2.0 */
/* C shims for function-like macros that bindgen cannot see. */
#ifndef LIVEDFS_HELPERS_H
#define LIVEDFS_HELPERS_H

#include <linux/fs.h>
#include <linux/slab.h>

struct kmem_cache *livedfs_inode_cache_create(const char *name, unsigned int size,
					      unsigned int align,
					      void (*ctor)(void *));
void *livedfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);

#endif
