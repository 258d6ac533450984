/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims: function-like macros bindgen cannot see (kmem_cache_create,
 * alloc_inode_sb, page_folio, folio_buffers), buffer-head state bits of
 * our own, the mechanical submission of a folio's buffers, static sysfs
 * attribute tables, and a few jbd2 fields. Every decision (what to write,
 * where, what to reserve) is made in Rust (rust/aops.rs, rust/dedup.rs).
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

/* Implemented in Rust. */
void livedfs_stat_extra(struct inode *inode, u64 *attributes, u64 *sectors, s64 *btime_sec, u32 *btime_nsec);
int livedfs_get_block_prepare(struct inode *inode, sector_t iblock,
			      struct buffer_head *bh, int create);
unsigned long long livedfs_stat_value(const void *info, int which);
int livedfs_knob_set(const void *info, int which, unsigned long long value);

/* Data buffers of regular files (helpers.c). */
bool livedfs_bh_test_set_cow(struct buffer_head *bh);
bool livedfs_bh_test_clear_cow(struct buffer_head *bh);
bool livedfs_bh_has_cow(struct buffer_head *bh);
void livedfs_bh_mark_write(struct buffer_head *bh);
struct buffer_head *livedfs_folio_buffers(struct folio *folio);
struct buffer_head *livedfs_folio_create_buffers(struct folio *folio, struct inode *inode,
						 bool dirty);
struct folio *livedfs_page_folio(struct page *page);
void livedfs_folio_commit_write(struct folio *folio, unsigned int from, unsigned int to);
int livedfs_folio_submit(struct folio *folio, struct writeback_control *wbc);
int livedfs_block_io(struct super_block *sb, u64 block, void *buf, bool write);

struct kstat;
struct path;
struct mnt_idmap;
int livedfs_getattr(struct mnt_idmap *idmap, const struct path *path, struct kstat *stat,
		    u32 request_mask, unsigned int query_flags);
void livedfs_cond_resched(void);
u64 livedfs_delayed_run(struct inode *inode, u64 *first, u64 last);
void *livedfs_job_start(const char *name, void (*fn)(void *), void *arg);
void livedfs_job_wait(void *p);
struct readahead_control;
struct address_space *livedfs_rac_mapping(struct readahead_control *rac);
void livedfs_inode_lock(struct inode *inode);
void livedfs_inode_unlock(struct inode *inode);
void __noreturn livedfs_panic_on_error(void);

/* sysfs (helpers.c). */
int livedfs_sysfs_init(void);
void livedfs_sysfs_exit(void);
void *livedfs_sysfs_add(const char *name, const void *info);
void livedfs_sysfs_del(void *p);

/* jbd2 glue (helpers.c). */
void livedfs_journal_setup(journal_t *j, void *private, unsigned long commit_secs,
			   void (*commit_cb)(journal_t *, transaction_t *));
void *livedfs_journal_private(journal_t *j);
unsigned int livedfs_transaction_tid(transaction_t *t);
unsigned int livedfs_handle_tid(handle_t *h);
bool livedfs_journal_needs_recovery(journal_t *j);
unsigned int livedfs_journal_commit_sequence(journal_t *j);
handle_t *livedfs_journal_start(journal_t *j, int blocks, int revokes);
unsigned int livedfs_journal_fix_limits(journal_t *j);

/* Fingerprints of a writeback batch, hashed on several CPUs (helpers.c). */
struct crypto_shash;
int livedfs_hash_init(void);
void livedfs_hash_exit(void);
void livedfs_hash_many_while(struct crypto_shash *tfm, const u8 *const *data,
			     unsigned int len, u8 *out, unsigned int out_stride,
			     int *errs, unsigned int n,
			     void (*then)(void *then_ctx), void *then_ctx);

/* Work split over the online CPUs on the same workqueue (helpers.c). */
void livedfs_run_shares(void (*fn)(void *ctx, unsigned int i, unsigned int n),
			void *ctx, unsigned int max_shares);
void livedfs_run_shares_while(void (*fn)(void *ctx, unsigned int i, unsigned int n),
			      void *ctx, unsigned int max_shares,
			      void (*then)(void *then_ctx), void *then_ctx);

/* FITRIM: whether the volume's device discards, and a discard of
 * `count` blocks from `block` (file-system blocks). */
bool livedfs_discard_supported(struct super_block *sb);
int livedfs_discard_blocks(struct super_block *sb, u64 block, u64 count);

#endif
