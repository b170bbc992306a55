/*
 * replay.c — runs a libFuzzer harness without libFuzzer: each argument is an input file, or a
 * directory of them (a corpus), and each input goes through LLVMFuzzerTestOneInput once. The
 * test suite replays the seed corpora this way in every build, so the harnesses cannot rot and
 * the seeds stay regression tests.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    static uint8_t data[1 << 20];
    size_t size;
    if (!f) {
        perror(path);
        return 1;
    }
    size = fread(data, 1, sizeof data, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    return 0;
}

int main(int argc, char **argv)
{
    int i, failed = 0, inputs = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        DIR *dir;
        struct dirent *entry;
        char path[4096];
        if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]);
            inputs++;
            continue;
        }
        if (!(dir = opendir(argv[i]))) {
            perror(argv[i]);
            return 1;
        }
        while ((entry = readdir(dir))) {
            if (entry->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], entry->d_name);
            failed |= replay_file(path);
            inputs++;
        }
        closedir(dir);
    }
    printf("%d inputs replayed\n", inputs);
    return failed || inputs == 0;
}
