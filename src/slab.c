/*
 * slab.c — the block allocator behind task memory.
 *
 * Blocks up to AC_SLAB_MAX_BLOCK bytes come from slabs: 64 KiB pieces of 2 MiB mappings, aligned
 * to their size, each carved into blocks of one size class (a multiple of 8 bytes). A block carries no
 * allocator header — the slab is found by masking the block's address — so a task costs its
 * 48-byte header and its frame, nothing more (glibc's malloc added 8 to 16 bytes), and finished
 * tasks' blocks are reused without a call into malloc (a quarter of a spawn's instructions
 * before). A slab with free blocks sits on its class's list; a slab left empty (unless it is
 * its class's only one) becomes a spare for any class, and beyond AC_SLAB_SPARES spares it is
 * given back to the system, so a burst of a million tasks does not pin its memory after it is
 * over. While a block is free — all but its first word, the free-list link — ASan and valgrind
 * see it as inaccessible, so touching a released task still trips them; so are the parts of a
 * slab never handed out, and spare slabs but for their head.
 *
 * A cache belongs to one executor and is used on its thread only (no locks). The common cases
 * of taking and giving back a block are inline in internal.h; this file has the rest.
 *
 * Invariants: a slab is on its class's list iff `listed`, iff it has a free block (on `free` or
 * never handed out); `live` counts the blocks handed out; a listed slab is empty only when it
 * is its class's only one; spare_count is the length of the spare list.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Mapping, refilling and releasing slabs stay out of line: inlined into the slow paths they
 * made them save and restore six registers on every call. */
#if defined(__GNUC__)
#define SLAB_COLD __attribute__((cold, noinline))
#else
#define SLAB_COLD
#endif

#define SLAB_FIRST_BLOCK ((sizeof(ac_slab) + 15) & ~(size_t)15)

static bool slab_has_free_block(const ac_slab *slab)
{
    return slab->free || slab->unused + slab->block_size <= AC_SLAB_BYTES;
}

static void slab_list(ac_slab **head, ac_slab *slab)
{
    assert(!slab->listed && slab_has_free_block(slab));
    slab->prev = NULL;
    slab->next = *head;
    if (*head)
        (*head)->prev = slab;
    *head = slab;
    slab->listed = true;
}

static void slab_unlist(ac_slab **head, ac_slab *slab)
{
    assert(slab->listed && (slab->prev ? slab->prev->next == slab : *head == slab));
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        *head = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
    slab->listed = false;
}

/* Slabs are carved from chunks of AC_SLAB_CHUNK_BYTES mapped straight from the kernel, aligned
 * by mapping twice the size and unmapping the ends: malloc's aligned_alloc would touch a header
 * page before each slab (6 % more RSS at this size), and mapping each slab on its own took three
 * system calls per 64 KiB (a burst of a million tasks made 4,800 of them; 150 now). A chunk's
 * pages are touched only as its slabs are handed out, and an empty slab is unmapped on its own,
 * which leaves a hole in its chunk, so memory goes back to the system as it did with lone slabs.
 * Neighbouring mappings merge, so a million tasks do not cost a million VMAs. Measured and left
 * out: madvise(MADV_HUGEPAGE) on the chunks, which halved page faults but doubled a bulk spawn's
 * CPU time on this VM (zeroing fresh 2 MiB pages dominated), and MAP_POPULATE, which moved the
 * page faults into mmap without making them cheaper. Empty slabs are kept for reuse, by any
 * class, up to AC_SLAB_SPARES: mapping fresh pages and unmapping them again (page faults, TLB
 * flushes) made a fan-out of 1000 tasks 50 times slower when every batch crossed a slab
 * boundary. */
static ac_slab *slab_carve(ac_slab_cache *cache)
{
    ac_slab *slab;

    if (cache->carve == cache->carve_end) {
        size_t span = 2 * AC_SLAB_CHUNK_BYTES;
        char *mapped = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *start;

        if (mapped == MAP_FAILED)
            return NULL;
        start = (char *)(((uintptr_t)mapped + AC_SLAB_CHUNK_BYTES - 1) &
                         ~(uintptr_t)(AC_SLAB_CHUNK_BYTES - 1));
        if (start > mapped)
            munmap(mapped, (size_t)(start - mapped));
        munmap(start + AC_SLAB_CHUNK_BYTES,
               (size_t)(mapped + span - (start + AC_SLAB_CHUNK_BYTES)));
        cache->carve = start;
        cache->carve_end = start + AC_SLAB_CHUNK_BYTES;
    }
    slab = (ac_slab *)(void *)cache->carve;
    cache->carve += AC_SLAB_BYTES;
    return slab;
}

SLAB_COLD static ac_slab *slab_new(ac_slab_cache *cache, uint32_t block_size)
{
    ac_slab *slab = cache->spare;

    if (slab) {
        assert(cache->spare_count > 0);
        cache->spare = slab->next;
        cache->spare_count--;
    } else {
        slab = slab_carve(cache);
        if (!slab)
            return NULL;
    }
    slab->free = NULL;
    slab->live = 0;
    slab->unused = (uint32_t)SLAB_FIRST_BLOCK;
    slab->block_size = block_size;
    slab->listed = false;
    slab->owner = cache->owner;
    AC_POISON_((char *)slab + SLAB_FIRST_BLOCK, AC_SLAB_BYTES - SLAB_FIRST_BLOCK);
    return slab;
}

static void slab_unmap(ac_slab *slab)
{
    AC_UNPOISON_(slab, AC_SLAB_BYTES);
    munmap(slab, AC_SLAB_BYTES);
}

/* An empty slab: kept as a spare, or given back to the system. */
SLAB_COLD static void slab_release(ac_slab_cache *cache, ac_slab *slab)
{
    assert(slab->live == 0 && !slab->listed);
    if (cache->spare_count >= AC_SLAB_SPARES) {
        slab_unmap(slab);
        return;
    }
    slab->next = cache->spare;
    cache->spare = slab;
    cache->spare_count++;
    AC_POISON_((char *)slab + SLAB_FIRST_BLOCK, AC_SLAB_BYTES - SLAB_FIRST_BLOCK);
}

void *ac_slab_alloc_slow_(ac_slab_cache *cache, unsigned cls)
{
    ac_slab **head = &cache->partial[cls - 1];
    ac_slab *slab = *head;
    uint32_t block_size = cls * AC_SLAB_GRANULE;
    void *block;

    assert(cls >= 1 && cls <= AC_SLAB_CLASSES);
    if (!slab) {
        slab = slab_new(cache, block_size);
        if (!slab)
            return NULL;
        slab_list(head, slab);
    }
    assert(slab->listed && slab->block_size == block_size && slab_has_free_block(slab));
    if (slab->free) {
        block = slab->free; /* its first word, the link, was left accessible */
        slab->free = *(void **)block;
        AC_UNPOISON_((char *)block + sizeof(void *), block_size - sizeof(void *));
    } else {
        block = (char *)slab + slab->unused;
        slab->unused += block_size;
        AC_UNPOISON_(block, block_size);
    }
    slab->live++;
    if (!slab_has_free_block(slab))
        slab_unlist(head, slab); /* full */
    return block;
}

void ac_slab_free_slow_(ac_slab_cache *cache, void *block, unsigned cls)
{
    ac_slab **head = &cache->partial[cls - 1];
    ac_slab *slab = ac_slab_of_(block);

    assert(cls >= 1 && cls <= AC_SLAB_CLASSES);
    assert(slab->block_size == cls * AC_SLAB_GRANULE && slab->live > 0);
    *(void **)block = slab->free;
    slab->free = block;
    AC_POISON_((char *)block + sizeof(void *), slab->block_size - sizeof(void *));
    slab->live--;
    if (!slab->listed)
        slab_list(head, slab);
    if (slab->live == 0 && (slab->prev || slab->next)) {
        slab_unlist(head, slab); /* empty, and not the class's last */
        slab_release(cache, slab);
    }
}

void ac_slab_cache_free_(ac_slab_cache *cache)
{
    unsigned i;
    for (i = 0; i < AC_SLAB_CLASSES; i++) {
        while (cache->partial[i]) {
            ac_slab *slab = cache->partial[i];
            slab_unlist(&cache->partial[i], slab);
            slab_unmap(slab);
        }
    }
    while (cache->spare) {
        ac_slab *slab = cache->spare;
        cache->spare = slab->next;
        cache->spare_count--;
        slab_unmap(slab);
    }
    assert(cache->spare_count == 0);
    if (cache->carve != cache->carve_end) /* the current chunk's slabs never handed out */
        munmap(cache->carve, (size_t)(cache->carve_end - cache->carve));
}
