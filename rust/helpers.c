// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for function-like macros (kmem_cache_create, alloc_inode_sb) and
 * page-cache glue made of static inlines (see helpers.h).
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/kthread.h>
#include <linux/jbd2.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include "helpers.h"

/*
 * Private state bits of a regular file's data buffers (data buffers are
 * never journaled, so jbd2's private bits are free for us, as ext4 uses
 * them):
 *  - LivedfsCow: the buffer is mapped to a block the file had, and holds
 *    one block reservation for the copy-on-write its writeback may need
 *    (the block may be shared by then);
 *  - LivedfsWrite: the writeback decision (Rust, rust/aops.rs) says the
 *    buffer's contents go to the block it is now mapped to. Nothing else
 *    is ever written from a file folio.
 */
#define BH_LivedfsCow BH_JBDPrivateStart
#define BH_LivedfsWrite (BH_JBDPrivateStart + 1)

bool livedfs_bh_test_set_cow(struct buffer_head *bh)
{
	return test_and_set_bit(BH_LivedfsCow, &bh->b_state);
}

bool livedfs_bh_test_clear_cow(struct buffer_head *bh)
{
	return test_and_clear_bit(BH_LivedfsCow, &bh->b_state);
}

bool livedfs_bh_has_cow(struct buffer_head *bh)
{
	return test_bit(BH_LivedfsCow, &bh->b_state);
}

void livedfs_bh_mark_write(struct buffer_head *bh)
{
	set_bit(BH_LivedfsWrite, &bh->b_state);
}

struct buffer_head *livedfs_folio_buffers(struct folio *folio)
{
	return folio_buffers(folio);
}

/* The folio's buffers, created if it has none (then dirty and up to date
 * when `dirty`, as __block_write_full_folio creates them). */
struct buffer_head *livedfs_folio_create_buffers(struct folio *folio, struct inode *inode,
						 bool dirty)
{
	struct buffer_head *head = folio_buffers(folio);

	if (!head)
		head = create_empty_buffers(folio, i_blocksize(inode),
					    dirty ? (1 << BH_Dirty) | (1 << BH_Uptodate) : 0);
	return head;
}

struct folio *livedfs_page_folio(struct page *page)
{
	return page_folio(page);
}

/* block_commit_write on a folio (it takes the folio's first page). */
void livedfs_folio_commit_write(struct folio *folio, unsigned int from, unsigned int to)
{
	block_commit_write(&folio->page, from, to);
}

/*
 * Submits the buffers of a locked folio that the writeback decision
 * marked (BH_LivedfsWrite), as the second half of
 * __block_write_full_folio: every marked buffer is locked (also for
 * background writeback: its block is already recorded in the running
 * transaction, whose commit must find it under writeback), the folio is
 * put under writeback and unlocked. Returns the number of writes started.
 */
/* In vfs/fstype.rs. */
void livedfs_note_data_write_error(struct super_block *sb);

/*
 * inode_operations.getattr: the VFS's attributes, plus what only livedfs
 * knows (livedfs_stat_extra): the statx attributes of the inode flags, and
 * the blocks reserved for data still waiting for delayed allocation in
 * st_blocks, as ext4 counts them, so the space a file uses does not change
 * when it is written back (fstests generic/422), and the creation time
 * (statx btime, the inode's crtime).
 */
int livedfs_getattr(struct mnt_idmap *idmap, const struct path *path, struct kstat *stat,
		    u32 request_mask, unsigned int query_flags)
{
	struct inode *inode = d_inode(path->dentry);
	u64 attributes = 0, sectors = 0;
	s64 btime_sec = 0;
	u32 btime_nsec = 0;

	generic_fillattr(idmap, request_mask, inode, stat);
	livedfs_stat_extra(inode, &attributes, &sectors, &btime_sec, &btime_nsec);
	stat->blocks += sectors;
	if (request_mask & STATX_BTIME) {
		stat->result_mask |= STATX_BTIME;
		stat->btime.tv_sec = btime_sec;
		stat->btime.tv_nsec = btime_nsec;
	}
	stat->attributes |= attributes;
	stat->attributes_mask |= STATX_ATTR_APPEND | STATX_ATTR_IMMUTABLE | STATX_ATTR_NODUMP;
	return 0;
}
bool livedfs_data_write_has_failed(struct super_block *sb);

/*
 * FIEMAP without FIEMAP_FLAG_SYNC reports data still waiting for delayed
 * allocation as ext4 does (FIEMAP_EXTENT_DELALLOC), without writing it
 * back: the first run of blocks in [*first, last] whose buffers are
 * delayed (BH_Delay), found through the page cache's dirty tag. Returns
 * the run's length in blocks and sets *first to its start; 0 if none.
 * Each folio is locked while its buffers are read, so writeback, which
 * clears BH_Delay under the folio lock, is not half seen.
 */
u64 livedfs_delayed_run(struct inode *inode, u64 *first, u64 last)
{
	struct address_space *mapping = inode->i_mapping;
	unsigned int bits = inode->i_blkbits;
	pgoff_t index = (pgoff_t)((*first << bits) >> PAGE_SHIFT);
	pgoff_t end = (pgoff_t)((last << bits) >> PAGE_SHIFT);
	struct folio_batch fbatch;
	u64 start = 0, n = 0;
	unsigned int i;

	if (last < *first)
		return 0;
	folio_batch_init(&fbatch);
	while (filemap_get_folios_tag(mapping, &index, end, PAGECACHE_TAG_DIRTY, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];
			struct buffer_head *head, *bh;
			u64 blk;

			folio_lock(folio);
			head = folio->mapping == mapping ? folio_buffers(folio) : NULL;
			if (!head) {
				folio_unlock(folio);
				if (n)
					goto out;
				continue;
			}
			blk = folio_pos(folio) >> bits;
			bh = head;
			do {
				if (blk >= *first && blk <= last) {
					if (buffer_delay(bh) && (!n || blk == start + n)) {
						if (!n)
							start = blk;
						n++;
					} else if (n) {
						folio_unlock(folio);
						goto out;
					}
				}
				blk++;
				bh = bh->b_this_page;
			} while (bh != head);
			folio_unlock(folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
out:
	folio_batch_release(&fbatch);
	if (n)
		*first = start;
	return n;
}

/* end_buffer_async_write (static in fs/buffer.c), as
 * mark_buffer_async_write installs it; read back from the first buffer. */
static bh_end_io_t *livedfs_async_write_end;

/*
 * Completion of a data buffer's write: a failure is recorded on the volume
 * (a sticky flag the journal's data check reads) before the page cache's
 * own handling, which ends the folio's writeback, so a commit waiting for
 * that writeback always sees it. The page cache's error (AS_EIO) alone is
 * not enough: any waiter (O_DIRECT's write-back, sync_file_range, fsync)
 * clears it, possibly before the commit looks.
 */
static void livedfs_end_data_write(struct buffer_head *bh, int uptodate)
{
	if (!uptodate)
		livedfs_note_data_write_error(bh->b_folio->mapping->host->i_sb);
	livedfs_async_write_end(bh, uptodate);
}

int livedfs_folio_submit(struct folio *folio, struct writeback_control *wbc)
{
	struct buffer_head *head = folio_buffers(folio), *bh;
	blk_opf_t flags = wbc_to_write_flags(wbc);
	int n = 0;

	if (head) {
		bh = head;
		do {
			if (!test_and_clear_bit(BH_LivedfsWrite, &bh->b_state))
				continue;
			if (buffer_new(bh)) {
				/* A stale cached copy of the block must not be
				 * written over its new contents. */
				clear_buffer_new(bh);
				clean_bdev_bh_alias(bh);
			}
			lock_buffer(bh);
			if (test_clear_buffer_dirty(bh)) {
				mark_buffer_async_write(bh);
				WRITE_ONCE(livedfs_async_write_end, bh->b_end_io);
				bh->b_end_io = livedfs_end_data_write;
				n++;
			} else {
				unlock_buffer(bh);
			}
		} while ((bh = bh->b_this_page) != head);
	}
	folio_start_writeback(folio);
	if (head) {
		bh = head;
		do {
			struct buffer_head *next = bh->b_this_page;

			if (buffer_async_write(bh))
				submit_bh(REQ_OP_WRITE | flags, bh);
			bh = next;
		} while (bh != head);
	}
	folio_unlock(folio);
	if (!n)
		folio_end_writeback(folio);
	return n;
}

/*
 * Reads or writes one block of the device synchronously, bypassing the
 * buffer cache (whose copy of a data block can be stale: file data is
 * written from the file's page cache, not through the device's):
 * byte-comparing a dedup candidate with what is on the medium, and
 * writing a stable copy of a folio that may change under DMA.
 */
int livedfs_block_io(struct super_block *sb, u64 block, void *buf, bool write)
{
	struct page *page = alloc_page(GFP_NOFS);
	unsigned int size = sb->s_blocksize;
	struct bio *bio;
	int err;

	if (!page)
		return -ENOMEM;
	if (write)
		memcpy(page_address(page), buf, size);
	bio = bio_alloc(sb->s_bdev, 1, write ? REQ_OP_WRITE : REQ_OP_READ, GFP_NOFS);
	bio->bi_iter.bi_sector = block << (sb->s_blocksize_bits - SECTOR_SHIFT);
	__bio_add_page(bio, page, size, 0);
	err = submit_bio_wait(bio);
	bio_put(bio);
	if (!err && !write)
		memcpy(buf, page_address(page), size);
	__free_page(page);
	return err;
}

struct kmem_cache *livedfs_inode_cache_create(const char *name, unsigned int size,
					      unsigned int align,
					      void (*ctor)(void *))
{
	/* The inode is reclaimable, accounted, and spread over memory like
	 * every file system's inode cache. */
	return kmem_cache_create(name, size, align,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, ctor);
}

/* A cache of plain byte buffers of one size (the fingerprint filter's size
 * classes, rust/vfs/fpmem.rs): 8-byte aligned, no constructor, not
 * reclaimable. */
struct kmem_cache *livedfs_buf_cache_create(const char *name, unsigned int size)
{
	return kmem_cache_create(name, size, 8, 0, NULL);
}

void *livedfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache)
{
	return alloc_inode_sb(sb, cache, GFP_KERNEL);
}

/*
 * A background job of a mount (the filter rebuild): a kernel thread that
 * runs the Rust function given, and a completion the mount waits for
 * before it goes away.
 */
struct livedfs_job {
	struct completion done;
	void (*fn)(void *);
	void *arg;
};

static int livedfs_job_thread(void *p)
{
	struct livedfs_job *j = p;

	j->fn(j->arg);
	complete(&j->done);
	return 0;
}

void *livedfs_job_start(const char *name, void (*fn)(void *), void *arg)
{
	struct livedfs_job *j = kzalloc(sizeof(*j), GFP_KERNEL);
	struct task_struct *t;

	if (!j)
		return NULL;
	init_completion(&j->done);
	j->fn = fn;
	j->arg = arg;
	t = kthread_run(livedfs_job_thread, j, "%s", name);
	if (IS_ERR(t)) {
		kfree(j);
		return NULL;
	}
	return j;
}

void livedfs_job_wait(void *p)
{
	struct livedfs_job *j = p;

	if (!j)
		return;
	wait_for_completion(&j->done);
	kfree(j);
}

struct address_space *livedfs_rac_mapping(struct readahead_control *rac)
{
	return rac->mapping;
}

void livedfs_cond_resched(void)
{
	cond_resched();
}

void livedfs_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void livedfs_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void livedfs_panic_on_error(void)
{
	panic("livedfs: errors=panic: corrupted volume (see messages above)");
}

/*
 * sysfs: /sys/fs/livedfs/<device>/<counter>, one number per file. The
 * values come from Rust (livedfs_stat_value); the names below are in the
 * order of rust/stats.rs's `STAT_NAMES`.
 */
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/completion.h>

struct livedfs_sysfs {
	struct kobject kobj;
	struct completion released;
	const void *info;
};

struct livedfs_stat_attr {
	struct kobj_attribute attr;
	int which;
};

static struct kset *livedfs_kset;

static ssize_t livedfs_stat_show(struct kobject *kobj, struct kobj_attribute *attr,
				 char *buf)
{
	struct livedfs_sysfs *s = container_of(kobj, struct livedfs_sysfs, kobj);
	struct livedfs_stat_attr *a = container_of(attr, struct livedfs_stat_attr, attr);

	return sysfs_emit(buf, "%llu\n", livedfs_stat_value(s->info, a->which));
}

#define LIVEDFS_STAT(n, i) \
	static struct livedfs_stat_attr livedfs_attr_##n = { \
		.attr = __ATTR(n, 0444, livedfs_stat_show, NULL), .which = i }

/*
 * Test hooks (Documentation/testing.md), root-writable: a number written
 * arms the hook, reading shows what is left of it. They cost one atomic
 * read per block decision when unarmed.
 */
static ssize_t livedfs_knob_store(struct kobject *kobj, struct kobj_attribute *attr,
				  const char *buf, size_t len)
{
	struct livedfs_sysfs *s = container_of(kobj, struct livedfs_sysfs, kobj);
	struct livedfs_stat_attr *a = container_of(attr, struct livedfs_stat_attr, attr);
	unsigned long long v;
	int err = kstrtoull(buf, 0, &v);

	if (err)
		return err;
	err = livedfs_knob_set(s->info, a->which, v);
	return err ? err : len;
}

#define LIVEDFS_KNOB(n, i) \
	static struct livedfs_stat_attr livedfs_attr_##n = { \
		.attr = __ATTR(n, 0644, livedfs_stat_show, livedfs_knob_store), .which = i }

LIVEDFS_STAT(logical_blocks_written, 0);
LIVEDFS_STAT(unique_blocks_written, 1);
LIVEDFS_STAT(duplicate_hits, 2);
LIVEDFS_STAT(false_candidates, 3);
LIVEDFS_STAT(zero_blocks, 4);
LIVEDFS_STAT(cow_breaks, 5);
LIVEDFS_STAT(blocks_freed, 6);
LIVEDFS_STAT(physical_blocks_used, 7);
LIVEDFS_STAT(logical_blocks_referenced, 8);
LIVEDFS_STAT(filter_entries, 9);
LIVEDFS_STAT(filter_bytes, 10);
LIVEDFS_STAT(filter_build_ns, 11);
LIVEDFS_STAT(block_size, 12);
LIVEDFS_STAT(pinned_copies, 13);
LIVEDFS_STAT(writeback_errors, 14);
LIVEDFS_STAT(filter_dropped, 15);
LIVEDFS_STAT(filter_max_bytes, 16);
LIVEDFS_STAT(filter_ready, 17);
LIVEDFS_STAT(filter_build_groups_done, 18);
LIVEDFS_STAT(group_count, 19);
LIVEDFS_STAT(writes_during_filter_build, 20);
LIVEDFS_STAT(filter_repeats, 21);
LIVEDFS_STAT(filter_loaded, 22);
LIVEDFS_KNOB(test_fail_decisions, 100);
LIVEDFS_KNOB(test_fail_errno, 101);
LIVEDFS_KNOB(test_delay_after_hash_ms, 102);
LIVEDFS_KNOB(test_rebuild_delay_ms, 103);
LIVEDFS_KNOB(test_delay_store_format_ms, 104);
LIVEDFS_KNOB(test_delay_filter_save_ms, 105);

static struct attribute *livedfs_stat_attrs[] = {
	&livedfs_attr_logical_blocks_written.attr.attr,
	&livedfs_attr_unique_blocks_written.attr.attr,
	&livedfs_attr_duplicate_hits.attr.attr,
	&livedfs_attr_false_candidates.attr.attr,
	&livedfs_attr_zero_blocks.attr.attr,
	&livedfs_attr_cow_breaks.attr.attr,
	&livedfs_attr_blocks_freed.attr.attr,
	&livedfs_attr_physical_blocks_used.attr.attr,
	&livedfs_attr_logical_blocks_referenced.attr.attr,
	&livedfs_attr_filter_entries.attr.attr,
	&livedfs_attr_filter_bytes.attr.attr,
	&livedfs_attr_filter_build_ns.attr.attr,
	&livedfs_attr_block_size.attr.attr,
	&livedfs_attr_pinned_copies.attr.attr,
	&livedfs_attr_writeback_errors.attr.attr,
	&livedfs_attr_filter_dropped.attr.attr,
	&livedfs_attr_filter_max_bytes.attr.attr,
	&livedfs_attr_filter_ready.attr.attr,
	&livedfs_attr_filter_build_groups_done.attr.attr,
	&livedfs_attr_group_count.attr.attr,
	&livedfs_attr_writes_during_filter_build.attr.attr,
	&livedfs_attr_filter_repeats.attr.attr,
	&livedfs_attr_filter_loaded.attr.attr,
	&livedfs_attr_test_fail_decisions.attr.attr,
	&livedfs_attr_test_fail_errno.attr.attr,
	&livedfs_attr_test_delay_after_hash_ms.attr.attr,
	&livedfs_attr_test_rebuild_delay_ms.attr.attr,
	&livedfs_attr_test_delay_store_format_ms.attr.attr,
	&livedfs_attr_test_delay_filter_save_ms.attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(livedfs_stat);

static void livedfs_sysfs_release(struct kobject *kobj)
{
	struct livedfs_sysfs *s = container_of(kobj, struct livedfs_sysfs, kobj);

	complete(&s->released);
}

static const struct kobj_type livedfs_ktype = {
	.default_groups = livedfs_stat_groups,
	.sysfs_ops = &kobj_sysfs_ops,
	.release = livedfs_sysfs_release,
};

int livedfs_sysfs_init(void)
{
	livedfs_kset = kset_create_and_add("livedfs", NULL, fs_kobj);
	return livedfs_kset ? 0 : -ENOMEM;
}

void livedfs_sysfs_exit(void)
{
	kset_unregister(livedfs_kset);
}

void *livedfs_sysfs_add(const char *name, const void *info)
{
	struct livedfs_sysfs *s = kzalloc(sizeof(*s), GFP_KERNEL);
	int err;

	if (!s)
		return NULL;
	s->info = info;
	s->kobj.kset = livedfs_kset;
	init_completion(&s->released);
	err = kobject_init_and_add(&s->kobj, &livedfs_ktype, NULL, "%s", name);
	if (err) {
		kobject_put(&s->kobj);
		wait_for_completion(&s->released);
		kfree(s);
		return NULL;
	}
	return s;
}

void livedfs_sysfs_del(void *p)
{
	struct livedfs_sysfs *s = p;

	if (!s)
		return;
	kobject_del(&s->kobj);
	kobject_put(&s->kobj);
	wait_for_completion(&s->released);
	kfree(s);
}

/*
 * The commit's wait for a transaction's data (data=ordered): as jbd2's own,
 * and it fails once any data write of the volume has failed
 * (livedfs_end_data_write), so with JBD2_ABORT_ON_SYNCDATA_ERR the journal
 * aborts before the commit record: the pointer to a block that does not
 * hold its data never commits.
 */
static int livedfs_finish_inode_data(struct jbd2_inode *jinode)
{
	int err = jbd2_journal_finish_inode_data_buffers(jinode);

	if (!err && livedfs_data_write_has_failed(jinode->i_vfs_inode->i_sb))
		err = -EIO;
	return err;
}

/*
 * jbd2 glue: fields and callbacks of journal_t and handle_t that Rust sets
 * or reads (the structures are large and config-dependent; only these few
 * members are touched).
 */
void livedfs_journal_setup(journal_t *j, void *private, unsigned long commit_secs,
			   void (*commit_cb)(journal_t *, transaction_t *))
{
	j->j_private = private;
	j->j_commit_interval = commit_secs * HZ;
	/*
	 * Cache flushes around each commit record and before the log tail
	 * moves (as ext4's default "barrier" option): without them a
	 * volatile write cache may keep a commit, or write checkpointed
	 * blocks home, out of order, and a power cut loses fsync'd data.
	 */
	write_lock(&j->j_state_lock);
	/*
	 * data_err=abort, as ext4 offers it: a data block that failed to
	 * reach the disk aborts the journal, so the transaction that points
	 * to it (and records its fingerprint, which later writes of that
	 * content would share) never commits.
	 */
	j->j_flags |= JBD2_BARRIER | JBD2_ABORT_ON_SYNCDATA_ERR;
	write_unlock(&j->j_state_lock);
	j->j_commit_callback = commit_cb;
	j->j_submit_inode_data_buffers = NULL;
	j->j_finish_inode_data_buffers = livedfs_finish_inode_data;
}

void *livedfs_journal_private(journal_t *j)
{
	return j->j_private;
}

unsigned int livedfs_transaction_tid(transaction_t *t)
{
	return t->t_tid;
}

unsigned int livedfs_handle_tid(handle_t *h)
{
	return h->h_transaction->t_tid;
}

/* The last transaction whose commit finished (successfully or not). */
unsigned int livedfs_journal_commit_sequence(journal_t *j)
{
	return READ_ONCE(j->j_commit_sequence);
}

bool livedfs_journal_needs_recovery(journal_t *j)
{
	return j->j_superblock && j->j_superblock->s_start != 0;
}

handle_t *livedfs_journal_start(journal_t *j, int blocks, int revokes)
{
	return jbd2__journal_start(j, blocks, 0, revokes, GFP_NOFS, 0, 0);
}

/* jbd2's journal_tag_bytes (not exported): bytes of one block tag. */
static size_t livedfs_journal_tag_bytes(journal_t *j)
{
	size_t sz;

	if (jbd2_has_feature_csum3(j))
		return sizeof(journal_block_tag3_t);
	sz = sizeof(journal_block_tag_t);
	if (jbd2_has_feature_csum2(j))
		sz += sizeof(__u16);
	return jbd2_has_feature_64bit(j) ? sz : sz - sizeof(__u32);
}

/*
 * jbd2 sizes its transactions from j_total_len, which for a journal opened
 * with jbd2_journal_init_dev is the device block where the log ends, not
 * the log's length: recompute the limit from the real log, as jbd2 does
 * for a journal starting at block 0 (a quarter of it), and the blocks a
 * transaction needs for its own descriptors (jbd2's
 * jbd2_descriptor_blocks_per_trans) from that limit. Left computed from
 * the end block, the overhead outgrew the limit on any volume whose
 * journal lies far enough into the device (a 1 TiB volume's, at block
 * 134 million: 176879 overhead blocks for a limit of 7936), so jbd2
 * refused every handle and nothing could be written. Returns the limit.
 */
unsigned int livedfs_journal_fix_limits(journal_t *j)
{
	unsigned long len = j->j_last - j->j_first;
	int tag_space = j->j_blocksize - sizeof(journal_header_t) - 16;
	int tags_per_block;

	if (jbd2_journal_has_csum_v2or3(j))
		tag_space -= sizeof(struct jbd2_journal_block_tail);
	tags_per_block = (tag_space - 16) / livedfs_journal_tag_bytes(j);
	j->j_max_transaction_buffers = len / 4;
	j->j_transaction_overhead_buffers =
		1 + DIV_ROUND_UP(j->j_max_transaction_buffers, tags_per_block);
	return j->j_max_transaction_buffers;
}

/*
 * Parallel fingerprinting (issue 17). Writeback decides one block after
 * another in the flusher thread, and hashing was most of a decision's CPU:
 * writepages now gathers a batch of locked folios and hashes their blocks
 * here, split into one contiguous share per online CPU on an unbound
 * workqueue, while the flusher decides the batch before (the first batch
 * is hashed with the flusher taking a share). The folios stay locked (and write-protected: their dirty bits were cleared
 * for I/O) until their decisions, so the bytes hashed are the bytes
 * decided on and written. The workqueue has a rescuer (WQ_MEM_RECLAIM):
 * writeback must make progress when memory is short, and if the shares
 * cannot be allocated the caller hashes them itself.
 */
#include <crypto/hash.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/workqueue.h>

static struct workqueue_struct *livedfs_hash_wq;

int livedfs_hash_init(void)
{
	livedfs_hash_wq = alloc_workqueue("livedfs-hash", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return livedfs_hash_wq ? 0 : -ENOMEM;
}

void livedfs_hash_exit(void)
{
	destroy_workqueue(livedfs_hash_wq);
}

/*
 * Work split over the online CPUs: fn(ctx, i, n) for every share i of n
 * (at most one per online CPU and max_shares) on the hashing workqueue;
 * returns when all have run. Without `then`, the calling thread takes
 * share 0; with it, every share goes to the workqueue and the caller runs
 * then(then_ctx) meanwhile (writeback decides one batch while the next
 * is hashed). If the work items cannot be allocated, the caller runs
 * every share itself, one after another, then `then`. Writeback hashing
 * (below) and the mount's check of a saved fingerprint filter's chains
 * use it.
 */
#define LIVEDFS_MAX_SHARES 16

struct livedfs_run_share {
	struct work_struct work;
	struct completion done;
	void (*fn)(void *ctx, unsigned int i, unsigned int n);
	void *ctx;
	unsigned int i, n;
};

static void livedfs_run_work(struct work_struct *w)
{
	struct livedfs_run_share *s = container_of(w, struct livedfs_run_share, work);

	s->fn(s->ctx, s->i, s->n);
	complete(&s->done);
}

void livedfs_run_shares_while(void (*fn)(void *ctx, unsigned int i, unsigned int n),
			      void *ctx, unsigned int max_shares,
			      void (*then)(void *then_ctx), void *then_ctx)
{
	struct livedfs_run_share *shares;
	unsigned int n, i, queued_from = then ? 0 : 1;

	n = min3(num_online_cpus(), max_shares, (unsigned int)LIVEDFS_MAX_SHARES);
	if (n == 0)
		n = 1;
	shares = (n > queued_from) && livedfs_hash_wq ?
		 kcalloc(n, sizeof(*shares), GFP_NOFS) : NULL;
	if (!shares) {
		for (i = 0; i < n; i++)
			fn(ctx, i, n);
		if (then)
			then(then_ctx);
		return;
	}
	for (i = queued_from; i < n; i++) {
		struct livedfs_run_share *s = &shares[i];

		s->fn = fn;
		s->ctx = ctx;
		s->i = i;
		s->n = n;
		init_completion(&s->done);
		INIT_WORK(&s->work, livedfs_run_work);
		queue_work(livedfs_hash_wq, &s->work);
	}
	if (then)
		then(then_ctx);
	else
		fn(ctx, 0, n);
	for (i = queued_from; i < n; i++)
		wait_for_completion(&shares[i].done);
	kfree(shares);
}

void livedfs_run_shares(void (*fn)(void *ctx, unsigned int i, unsigned int n),
			void *ctx, unsigned int max_shares)
{
	livedfs_run_shares_while(fn, ctx, max_shares, NULL, NULL);
}

/* Shares of fewer blocks than this are not worth a worker's wake-up. */
#define LIVEDFS_HASH_MIN_SHARE 2

struct livedfs_hash_batch {
	struct crypto_shash *tfm;
	const u8 *const *data;
	unsigned int len;
	u8 *out;
	unsigned int out_stride;
	int *errs;
	unsigned int count;
};

/* Share i of n: one contiguous range of the batch's blocks. */
static void livedfs_hash_share(void *ctx, unsigned int i, unsigned int n)
{
	struct livedfs_hash_batch *b = ctx;
	unsigned int per = DIV_ROUND_UP(b->count, n);
	unsigned int first = min(i * per, b->count);
	unsigned int end = min(first + per, b->count);

	for (; first < end; first++)
		b->errs[first] = crypto_shash_tfm_digest(b->tfm, b->data[first], b->len,
							 b->out + (size_t)first * b->out_stride);
}

/*
 * Hashes blocks data[0..n) of len bytes each into out + i * out_stride;
 * errs[i] gets each digest's result (0 or a negative errno). Returns when
 * all are done; with `then`, the calling thread runs then(then_ctx)
 * meanwhile instead of hashing.
 */
void livedfs_hash_many_while(struct crypto_shash *tfm, const u8 *const *data,
			     unsigned int len, u8 *out, unsigned int out_stride,
			     int *errs, unsigned int n,
			     void (*then)(void *then_ctx), void *then_ctx)
{
	struct livedfs_hash_batch b = {
		.tfm = tfm, .data = data, .len = len, .out = out,
		.out_stride = out_stride, .errs = errs, .count = n,
	};

	livedfs_run_shares_while(livedfs_hash_share, &b,
				 max(n / LIVEDFS_HASH_MIN_SHARE, 1u), then, then_ctx);
}

bool livedfs_discard_supported(struct super_block *sb)
{
	return bdev_max_discard_sectors(sb->s_bdev) > 0;
}

int livedfs_discard_blocks(struct super_block *sb, u64 block, u64 count)
{
	unsigned int shift = sb->s_blocksize_bits - SECTOR_SHIFT;

	return blkdev_issue_discard(sb->s_bdev, block << shift, count << shift, GFP_NOFS);
}
