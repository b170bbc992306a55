/* Files without blocking the loop: each operation runs on the blocking pool, and a task awaits
 * it like any other future. Write a file atomically, read it back, look at it, list the
 * directory, rename and remove. Plain main() drives it all with ac_block_on. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tour {
    ac_future future;
    const char *dir;
    char path[2][256];
    ac_fs_write_file_op write;
    ac_fs_read_file_op read;
    ac_fs_metadata_op stat;
    ac_fs_read_dir_op list;
    ac_fs_rename_op rename;
    int rc;
};

ASYNC_FN(tour)
    snprintf(self->path[0], sizeof self->path[0], "%s/notes.txt", self->dir);
    snprintf(self->path[1], sizeof self->path[1], "%s/notes.old", self->dir);
    AWAIT_TRY(self->rc, ac_fs_write_file(&self->write, self->path[0], "buy milk\ncall bob\n", 18,
                                         AC_FS_ATOMIC));
    AWAIT_TRY(self->rc, ac_fs_read_file(&self->read, self->path[0], 64 * 1024));
    printf("read %d bytes:\n%s", self->rc, self->read.data);
    free(self->read.data); /* the data is ours */

    AWAIT_TRY(self->rc, ac_fs_metadata(&self->stat, self->path[0], 0));
    printf("size %llu, a regular file: %s\n", (unsigned long long)self->stat.meta.size,
           self->stat.meta.type == AC_FS_FILE ? "yes" : "no");

    AWAIT_TRY(self->rc, ac_fs_rename(&self->rename, self->path[0], self->path[1]));
    AWAIT_TRY(self->rc, ac_fs_write_file(&self->write, self->path[0], "", 0, 0));
    AWAIT_TRY(self->rc, ac_fs_read_dir(&self->list, self->dir, 100));
    for (int i = 0; i < self->rc; i++)
        printf("entry: %s\n", self->list.entries[i].name);
    free(self->list.entries); /* one block: the names live in it */

    /* notes.old holds 18 bytes: reading it with a limit of 4 fails with -EFBIG */
    AWAIT_TRY(self->rc, ac_fs_read_file(&self->read, self->path[1], 4));
ASYNC_FINALLY
    if (ASYNC_RESULT < 0)
        printf("failed: %s\n", ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *tour(struct tour *self, const char *dir)
{
    return ASYNC_NEW(self, tour, .dir = dir);
}

int main(void)
{
    char dir[] = "/tmp/asyncc_tour_XXXXXX", cmd[64];
    ac_executor *ex = ac_executor_new();
    struct tour t;
    int rc;

    if (!ex || !mkdtemp(dir))
        return 1;
    rc = ac_block_on(ex, tour(&t, dir));
    printf("tour: %s\n", ac_strerror(rc));
    ac_executor_free(ex);
    snprintf(cmd, sizeof cmd, "rm -r %s", dir);
    return system(cmd) != 0;
}
