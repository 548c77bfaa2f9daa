/* checkpoint.c -- saving and restoring everything a resumed run needs:
 * parameters, BN running statistics, the dropout generator, the optimizer's
 * config, step and state, and the caller's blob. Format (little-endian):
 *
 *   "NNLABCK1" | u32 version | u64 arch hash | u64 nparams | u64 nbuffers |
 *   u64 optim state floats | u64 blob bytes | i64 optim step |
 *   u32 optim kind | rng state (4 x u64) | u64 path that wrote it (nn_isa + 1;
 *   0 before paths were recorded) | params | buffers | optim state |
 *   blob | u32 CRC-32 of everything before it
 *
 * Loading reads the whole file, checks the size, CRC and every count against
 * the network before touching it, so a foreign or torn file changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "nn.h"
#include "ops.h"

#define CK_MAGIC "NNLABCK1"
#define CK_VERSION 1u
/* magic, version, hash, 4 counts, step, kind, rng, path (the old reserved field) */
#define CK_HEADER (8 + 4 + 8 + 8 * 4 + 8 + 4 + 32 + 8)

typedef struct { unsigned char *p; size_t n; } wbuf;

static void put(wbuf *b, const void *src, size_t n) { memcpy(b->p + b->n, src, n); b->n += n; }

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

int nn_checkpoint_save(const char *path, nn_net *net, const nn_optim *opt,
                       const void *blob, size_t bloblen, char *err, size_t errlen) {
    size_t np = nn_net_nparams(net), nb = nn_net_nbuffers(net), ns = nn_optim_state_size(opt);
    size_t total = CK_HEADER + 4 * (np + nb + ns) + bloblen + 4;
    wbuf b = {malloc(total), 0};
    if (!b.p) { snprintf(err, errlen, "%s: out of memory writing checkpoint", path); return -1; }
    uint32_t version = CK_VERSION, kind = (uint32_t)opt->cfg.kind;
    uint64_t hash = nn_net_arch_hash(net), u[5] = {np, nb, ns, bloblen, (uint64_t)nn_net_isa(net) + 1};
    int64_t step = opt->step;
    put(&b, CK_MAGIC, 8);
    put(&b, &version, 4);
    put(&b, &hash, 8);
    put(&b, u, 8 * 4);
    put(&b, &step, 8);
    put(&b, &kind, 4);
    put(&b, nn_net_rng(net)->s, 32);
    put(&b, &u[4], 8);
    put(&b, nn_net_params(net), 4 * np);
    put(&b, nn_net_buffers(net), 4 * nb);
    put(&b, opt->state, 4 * ns);
    if (bloblen) put(&b, blob, bloblen);
    uint32_t crc = (uint32_t)crc32(0L, b.p, (uInt)b.n);
    put(&b, &crc, 4);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = -1;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    } else if (write_all(fd, b.p, b.n) || fsync(fd)) {
        snprintf(err, errlen, "%s: cannot write checkpoint: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
    } else if (close(fd) || rename(tmp, path)) {
        snprintf(err, errlen, "%s: cannot move checkpoint into place: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        rc = 0;
        /* the rename itself is durable only once the folder is on disk */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(b.p);
    return rc;
}

int nn_checkpoint_load(const char *path, nn_net *net, nn_optim *opt,
                       void *blob, size_t blobcap, size_t *bloblen,
                       char *err, size_t errlen) {
    /* A checkpoint may come from anyone (a shard copied back from a
     * cluster): opened without blocking, a regular file only, and read no
     * further than this network's checkpoint can be long, so a FIFO, a
     * device or an endless file is refused at once. */
    const size_t longest = CK_HEADER + 4 * (nn_net_nparams(net) + nn_net_nbuffers(net) + nn_optim_state_size(opt)) +
                           (blob ? blobcap : ((size_t)1 << 30)) + 4;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "%s: cannot open checkpoint: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot read checkpoint: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > longest) {
        snprintf(err, errlen, "%s: not a checkpoint of this network (%lld bytes, at most %zu expected)", path,
                 (long long)st.st_size, longest);
        close(fd);
        return -1;
    }
    unsigned char *d = malloc((size_t)st.st_size + 1);
    if (!d) { close(fd); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    size_t n = 0;
    int ioerr = 0;
    /* one byte past the size fstat gave: a file that grew is noticed below */
    while (n < (size_t)st.st_size + 1) {
        ssize_t r = read(fd, d + n, (size_t)st.st_size + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { ioerr = 1; break; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); free(d); return -1; } while (0)
    if (ioerr) BAD("%s: read error", path);
    if (n < 8 || memcmp(d, CK_MAGIC, 8)) BAD("%s: not an nnlab checkpoint (bad magic)", path);
    if (n < CK_HEADER + 4) BAD("%s: truncated checkpoint (%zu bytes)", path, n);
    uint32_t version, kind, crc;
    uint64_t hash, u[4];
    int64_t step;
    size_t off = 8;
    memcpy(&version, d + off, 4); off += 4;
    memcpy(&hash, d + off, 8); off += 8;
    memcpy(u, d + off, 32); off += 32;
    memcpy(&step, d + off, 8); off += 8;
    memcpy(&kind, d + off, 4); off += 4;
    uint64_t rng[4];
    memcpy(rng, d + off, 32); off += 32;
    uint64_t isa1;
    memcpy(&isa1, d + off, 8); off += 8;
    if (version != CK_VERSION) BAD("%s: checkpoint format version %u, this nnlab reads %u", path, version, CK_VERSION);
    size_t np = nn_net_nparams(net), nb = nn_net_nbuffers(net), ns = nn_optim_state_size(opt);
    if (u[0] != np || u[1] != nb)
        BAD("%s: checkpoint is for another architecture (%llu parameters, this network has %zu)",
            path, (unsigned long long)u[0], np);
    if (hash != nn_net_arch_hash(net))
        BAD("%s: checkpoint is for another architecture (the same parameter count, another layer list)", path);
    if (kind != (uint32_t)opt->cfg.kind || u[2] != ns)
        BAD("%s: checkpoint was saved with another optimizer", path);
    if (u[3] > ((uint64_t)1 << 30)) BAD("%s: corrupt checkpoint (blob of %llu bytes)", path, (unsigned long long)u[3]);
    size_t want = CK_HEADER + 4 * (np + nb + ns) + (size_t)u[3] + 4;
    if (n != want) BAD("%s: truncated or corrupt checkpoint (%zu bytes, expected %zu)", path, n, want);
    memcpy(&crc, d + n - 4, 4);
    if (crc != (uint32_t)crc32(0L, d, (uInt)(n - 4))) BAD("%s: corrupt checkpoint (CRC mismatch)", path);
    if (blob && u[3] > blobcap) BAD("%s: checkpoint blob of %llu bytes does not fit %zu", path, (unsigned long long)u[3], blobcap);
#undef BAD
    memcpy(nn_net_params(net), d + off, 4 * np); off += 4 * np;
    memcpy(nn_net_buffers(net), d + off, 4 * nb); off += 4 * nb;
    memcpy(opt->state, d + off, 4 * ns); off += 4 * ns;
    if (u[3] && blob) memcpy(blob, d + off, (size_t)u[3]);
    if (bloblen) *bloblen = (size_t)u[3];
    memcpy(nn_net_rng(net)->s, rng, 32);
    opt->step = step;
    nn_net_set_loaded_isa_(net, isa1 >= 1 && isa1 <= NN_ISA_COUNT ? (int)isa1 - 1 : -1);
    free(d);
    return 0;
}
