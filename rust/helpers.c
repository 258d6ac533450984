// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for function-like macros (kmem_cache_create, alloc_inode_sb):
 * bindgen sees no function to bind, so Rust calls these instead.
 */
#include "helpers.h"

struct kmem_cache *livedfs_inode_cache_create(const char *name, unsigned int size,
					      unsigned int align,
					      void (*ctor)(void *))
{
	/* The inode is reclaimable, accounted, and spread over memory like
	 * every file system's inode cache. */
	return kmem_cache_create(name, size, align,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, ctor);
}

void *livedfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache)
{
	return alloc_inode_sb(sb, cache, GFP_KERNEL);
}
