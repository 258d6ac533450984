/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims: function-like macros bindgen cannot see, and a little page-cache
 * glue that is all static inlines and macros in C (writepages, mmap,
 * invalidate_folio). The decisions stay in Rust: these call back into the
 * Rust `livedfs_get_block_*` functions.
 */
#ifndef LIVEDFS_HELPERS_H
#define LIVEDFS_HELPERS_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/writeback.h>
#include <linux/jbd2.h>

struct kmem_cache *livedfs_inode_cache_create(const char *name, unsigned int size,
					      unsigned int align,
					      void (*ctor)(void *));
void *livedfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);
struct kmem_cache *livedfs_buf_cache_create(const char *name, unsigned int size);

/* Implemented in Rust (rust/vfs/fstype.rs). */
int livedfs_get_block_prepare(struct inode *inode, sector_t iblock,
			      struct buffer_head *bh, int create);
int livedfs_get_block_writeback(struct inode *inode, sector_t iblock,
				struct buffer_head *bh, int create);
void livedfs_release_delayed(struct inode *inode, unsigned int n);
handle_t *livedfs_writeback_handle(struct inode *inode, unsigned int blocks);
int livedfs_writeback_done(struct inode *inode, loff_t end);
void livedfs_set_disksize(struct inode *inode, loff_t size);
int livedfs_reserve_cow(struct inode *inode, unsigned int n);
void livedfs_release_cow(struct inode *inode, unsigned int n);

/* Implemented in helpers.c. */
int livedfs_writepages(struct address_space *mapping, struct writeback_control *wbc);
int livedfs_write_begin(struct file *file, struct address_space *mapping,
			loff_t pos, unsigned int len, struct folio **foliop,
			void **fsdata);
bool livedfs_test_clear_cow(struct buffer_head *bh);
int livedfs_file_mmap(struct file *file, struct vm_area_struct *vma);
void livedfs_invalidate_folio(struct folio *folio, size_t offset, size_t length);

int livedfs_zero_range(struct inode *inode, loff_t pos, loff_t len);
void livedfs_inode_lock(struct inode *inode);
void livedfs_inode_unlock(struct inode *inode);
void __noreturn livedfs_panic_on_error(void);

/* sysfs (helpers.c); values from Rust (rust/stats.rs). */
unsigned long long livedfs_stat_value(const void *info, int which);
int livedfs_sysfs_init(void);
void livedfs_sysfs_exit(void);
void *livedfs_sysfs_add(const char *name, const void *info);
void livedfs_sysfs_del(void *p);

/* Reflink and out-of-band dedup (helpers.c); blocks shared in Rust. */
loff_t livedfs_remap_file_range(struct file *file_in, loff_t pos_in,
				struct file *file_out, loff_t pos_out,
				loff_t len, unsigned int remap_flags);
int livedfs_remap_blocks(struct inode *src, loff_t pos_in, struct inode *dst,
			 loff_t pos_out, loff_t len, bool dedup);

/* jbd2 glue (helpers.c). */
void livedfs_journal_setup(journal_t *j, void *private, unsigned long commit_secs,
			   void (*commit_cb)(journal_t *, transaction_t *));
void *livedfs_journal_private(journal_t *j);
unsigned int livedfs_transaction_tid(transaction_t *t);
unsigned int livedfs_handle_tid(handle_t *h);
bool livedfs_journal_needs_recovery(journal_t *j);
handle_t *livedfs_journal_start(journal_t *j, int blocks, int revokes);
unsigned int livedfs_journal_fix_limits(journal_t *j);

#endif
