// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for function-like macros (kmem_cache_create, alloc_inode_sb) and
 * page-cache glue made of static inlines (see helpers.h).
 */
#include <linux/buffer_head.h>
#include <linux/jbd2.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include "helpers.h"

/*
 * A dirty buffer over an already-mapped block holds one reservation for a
 * possible copy-on-write at writeback (the block may be shared by then).
 */
#define BH_LivedfsCow BH_JBDPrivateStart

/* Reserves for every mapped, not yet reserved buffer of `folio` in
 * [from, to); on failure gives back what it took. */
static int livedfs_reserve_overwrites(struct inode *inode, struct folio *folio,
				      size_t from, size_t to)
{
	struct buffer_head *head = folio_buffers(folio), *bh;
	size_t cur = 0;
	unsigned int n = 0;
	int err;

	if (!head || !S_ISREG(inode->i_mode))
		return 0;
	bh = head;
	do {
		size_t next = cur + bh->b_size;

		if (next > from && cur < to && buffer_mapped(bh) &&
		    !buffer_delay(bh) && !test_and_set_bit(BH_LivedfsCow, &bh->b_state))
			n++;
		cur = next;
		bh = bh->b_this_page;
	} while (bh != head);
	if (!n)
		return 0;
	err = livedfs_reserve_cow(inode, n);
	if (err) {
		/* Undo: the bits just set, in the same range. */
		cur = 0;
		bh = head;
		do {
			size_t next = cur + bh->b_size;

			if (n && next > from && cur < to && buffer_mapped(bh) &&
			    !buffer_delay(bh) && test_and_clear_bit(BH_LivedfsCow, &bh->b_state))
				n--;
			cur = next;
			bh = bh->b_this_page;
		} while (bh != head);
	}
	return err;
}

int livedfs_write_begin(struct file *file, struct address_space *mapping,
			loff_t pos, unsigned int len, struct folio **foliop,
			void **fsdata)
{
	int err = block_write_begin(mapping, pos, len, foliop,
				    livedfs_get_block_prepare);
	size_t from;

	if (err)
		return err;
	from = offset_in_folio(*foliop, pos);
	err = livedfs_reserve_overwrites(mapping->host, *foliop, from, from + len);
	if (err) {
		folio_unlock(*foliop);
		folio_put(*foliop);
		*foliop = NULL;
	}
	return err;
}

bool livedfs_test_clear_cow(struct buffer_head *bh)
{
	return test_and_clear_bit(BH_LivedfsCow, &bh->b_state);
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
 * Writeback: every dirty folio goes through __block_write_full_folio with
 * the Rust writeback get_block, which allocates (and later deduplicates)
 * each delayed block. Like block_write_full_folio, which is not exported:
 * the part of a folio past EOF is zeroed, a folio wholly past EOF skipped.
 */
static int livedfs_write_folio(struct folio *folio, struct writeback_control *wbc)
{
	struct inode *inode = folio->mapping->host;
	loff_t i_size = i_size_read(inode);
	struct buffer_head *head = folio_buffers(folio), *bh;

	/*
	 * Every dirty block of a regular file must pass the dedup decision,
	 * also one already mapped (an overwrite: in place, copy-on-write or
	 * shared). __block_write_full_folio calls get_block for delayed
	 * buffers, so mark them; the block number tells a reserved new block
	 * (all ones) from an overwrite.
	 */
	if (S_ISREG(inode->i_mode) && head) {
		bh = head;
		do {
			if (buffer_dirty(bh) && buffer_mapped(bh) && !buffer_delay(bh))
				set_buffer_delay(bh);
			bh = bh->b_this_page;
		} while (bh != head);
	}

	handle_t *handle;
	int err;

	if (folio_pos(folio) >= i_size) {
		folio_unlock(folio);
		return 0;
	}
	if (folio_pos(folio) + folio_size(folio) > i_size)
		folio_zero_segment(folio, offset_in_folio(folio, i_size), folio_size(folio));
	/*
	 * One handle around the whole folio: the block decisions journal
	 * their metadata in it, and since a transaction can't commit while a
	 * handle is open, the folio is under writeback before the commit
	 * that points to its new blocks waits for it (data=ordered).
	 */
	handle = livedfs_writeback_handle(inode, folio_size(folio) >> inode->i_blkbits);
	if (IS_ERR(handle)) {
		folio_redirty_for_writepage(wbc, folio);
		folio_unlock(folio);
		return PTR_ERR(handle);
	}
	err = __block_write_full_folio(inode, folio, livedfs_get_block_writeback, wbc);
	/* The folio's blocks are mapped: the size on disk may cover them. */
	if (!err && S_ISREG(inode->i_mode))
		err = livedfs_writeback_done(inode, folio_pos(folio) + folio_size(folio));
	if (handle) {
		int err2 = jbd2_journal_stop(handle);

		if (!err)
			err = err2;
	}
	return err;
}

int livedfs_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct folio *folio = NULL;
	int error = 0;

	while ((folio = writeback_iter(mapping, wbc, folio, &error)))
		error = livedfs_write_folio(folio, wbc);
	return error;
}

/* mmap writes reserve space at page_mkwrite, like write(). */
static vm_fault_t livedfs_page_mkwrite(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	int err;

	sb_start_pagefault(inode->i_sb);
	file_update_time(vmf->vma->vm_file);
	err = block_page_mkwrite(vmf->vma, vmf, livedfs_get_block_prepare);
	if (!err) {
		/* The folio is locked: reserve for overwrites of mapped blocks. */
		struct folio *folio = page_folio(vmf->page);

		err = livedfs_reserve_overwrites(inode, folio, 0, folio_size(folio));
		if (err)
			folio_unlock(folio);
	}
	sb_end_pagefault(inode->i_sb);
	return vmf_fs_error(err);
}

static const struct vm_operations_struct livedfs_file_vm_ops = {
	.fault		= filemap_fault,
	.map_pages	= filemap_map_pages,
	.page_mkwrite	= livedfs_page_mkwrite,
};

int livedfs_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	vma->vm_ops = &livedfs_file_vm_ops;
	return 0;
}

/* Truncated delayed buffers give their reservations back. */
void livedfs_invalidate_folio(struct folio *folio, size_t offset, size_t length)
{
	struct buffer_head *head = folio_buffers(folio), *bh;
	size_t stop = offset + length, cur = 0;
	unsigned int delayed = 0, cow = 0;

	if (head) {
		bh = head;
		do {
			size_t next = cur + bh->b_size;

			if (next > stop)
				break;
			if (cur >= offset && buffer_delay(bh)) {
				clear_buffer_delay(bh);
				delayed++;
			}
			if (cur >= offset && test_and_clear_bit(BH_LivedfsCow, &bh->b_state))
				cow++;
			cur = next;
			bh = bh->b_this_page;
		} while (bh != head);
	}
	if (delayed)
		livedfs_release_delayed(folio->mapping->host, delayed);
	if (cow)
		livedfs_release_cow(folio->mapping->host, cow);
	block_invalidate_folio(folio, offset, length);
}

/*
 * Zeroes [pos, pos + len) of a file through the page cache (write_begin,
 * zero, write_end), for the partial blocks at the edges of a punched hole.
 * Only for blocks already mapped: the caller skips holes.
 */
int livedfs_zero_range(struct inode *inode, loff_t pos, loff_t len)
{
	struct address_space *mapping = inode->i_mapping;
	const struct address_space_operations *aops = mapping->a_ops;

	while (len > 0) {
		struct folio *folio;
		void *fsdata = NULL;
		size_t off = offset_in_page(pos);
		unsigned int n = min_t(loff_t, PAGE_SIZE - off, len);
		int err;

		err = aops->write_begin(NULL, mapping, pos, n, &folio, &fsdata);
		if (err)
			return err;
		folio_zero_range(folio, offset_in_folio(folio, pos), n);
		err = aops->write_end(NULL, mapping, pos, n, n, folio, fsdata);
		if (err < 0)
			return err;
		pos += n;
		len -= n;
	}
	return 0;
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
 * FICLONE / FICLONERANGE / FIDEDUPERANGE: lock both inodes, let the VFS
 * check the request (and, for dedup, compare the data) and write back both
 * ranges, drop the destination's cached pages, then share the blocks
 * (livedfs_remap_blocks, in Rust, on the same reference counts as inline
 * deduplication).
 */
loff_t livedfs_remap_file_range(struct file *file_in, loff_t pos_in,
				struct file *file_out, loff_t pos_out,
				loff_t len, unsigned int remap_flags)
{
	struct inode *src = file_inode(file_in), *dst = file_inode(file_out);
	loff_t ret;

	if (remap_flags & ~(REMAP_FILE_DEDUP | REMAP_FILE_ADVISORY))
		return -EINVAL;
	lock_two_nondirectories(src, dst);
	ret = generic_remap_file_range_prep(file_in, pos_in, file_out, pos_out,
					    &len, remap_flags);
	if (ret < 0 || len == 0)
		goto out;
	/*
	 * Growing dst: its data waiting for allocation below pos_out gets its
	 * blocks first, since the size on disk will cover it.
	 */
	if (!(remap_flags & REMAP_FILE_DEDUP) && pos_out + len > i_size_read(dst) && pos_out > 0) {
		ret = filemap_write_and_wait_range(&dst->i_data, 0, pos_out - 1);
		if (ret < 0)
			goto out;
	}
	truncate_inode_pages_range(&dst->i_data, pos_out,
				   round_up(pos_out + len, i_blocksize(dst)) - 1);
	ret = livedfs_remap_blocks(src, pos_in, dst, pos_out, len,
				   !!(remap_flags & REMAP_FILE_DEDUP));
	if (ret < 0)
		goto out;
	if (!(remap_flags & REMAP_FILE_DEDUP) && pos_out + len > i_size_read(dst))
	{
		i_size_write(dst, pos_out + len);
		livedfs_set_disksize(dst, pos_out + len);
	}
	inode_set_mtime_to_ts(dst, inode_set_ctime_current(dst));
	mark_inode_dirty(dst);
	ret = len;
out:
	unlock_two_nondirectories(src, dst);
	return ret;
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
	j->j_flags |= JBD2_BARRIER;
	write_unlock(&j->j_state_lock);
	j->j_commit_callback = commit_cb;
	j->j_submit_inode_data_buffers = NULL;
	j->j_finish_inode_data_buffers = jbd2_journal_finish_inode_data_buffers;
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

bool livedfs_journal_needs_recovery(journal_t *j)
{
	return j->j_superblock && j->j_superblock->s_start != 0;
}

handle_t *livedfs_journal_start(journal_t *j, int blocks, int revokes)
{
	return jbd2__journal_start(j, blocks, 0, revokes, GFP_NOFS, 0, 0);
}

/*
 * jbd2 sizes its transactions from j_total_len, which for a journal opened
 * with jbd2_journal_init_dev is the device block where the log ends, not
 * the log's length: recompute the limit from the real log, as jbd2 does
 * for a journal starting at block 0 (a quarter of it). Returns the limit.
 */
unsigned int livedfs_journal_fix_limits(journal_t *j)
{
	unsigned long len = j->j_last - j->j_first;

	j->j_max_transaction_buffers = len / 4;
	return j->j_max_transaction_buffers;
}
