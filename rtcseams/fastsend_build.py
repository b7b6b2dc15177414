"""Builds ``rtcseams._fastsend``: the packet path's fan-out of one packet, in C (cffi, API mode).

Built by ``pip install`` (``setup.py``'s ``cffi_modules``) or by hand with
``python -m rtcseams.fastsend_build`` (in place, next to this file). It links nothing:
libsrtp's ``srtp_protect`` is the one pylibsrtp already carries, handed in as a function
pointer, and ``sendto`` is libc's.

``salon_fan_out`` does for every subscriber of one shape what ``PacketSink.forward`` and
``SrtpOut.send_stamped`` do in Python in the steady state (anchored, no key frame
awaited): map sequence number and timestamp into the subscriber's stream (the same
arithmetic as ``StreamMap.map``), copy the shape's template into the subscriber's own
buffer, write sequence number, timestamp and SSRC, advance VP8 picture id and TL0PICIDX
by the epoch's deltas, protect with libsrtp and ``sendto`` the subscriber's socket
without blocking. A subscriber it cannot serve (its transport may have changed since the
generation it was checked at; the socket would block; libsrtp refused) is left marked
with a status for Python to handle, and the loop goes on with the others.
"""

from __future__ import annotations

from cffi import FFI

FIELDS = """
    void *srtp;          /* the subscriber's outbound srtp_t */
    int fd;              /* its ICE pair's socket */
    unsigned int addrlen;
    uint32_t ssrc;
    uint64_t gen;        /* salon_generation() when the transport was last checked */
    /* the current epoch (StreamMap.epoch) */
    uint32_t seq_delta;
    uint32_t ts_delta;
    uint32_t pid_delta;
    uint32_t tl0_delta;
    /* StreamMap's running state; last_pid/last_tl0 are -1 for "none yet" */
    uint32_t last_seq;
    uint32_t last_ts;
    double last_time;
    int32_t last_pid;
    int32_t last_tl0;
    uint64_t forwarded;
    uint64_t octets;
    int status;
    int error;
    int len;             /* bytes in buf after protection */
"""

CDEF = """
typedef int (*salon_protect_fn)(void *ctx, void *hdr, int *len);

typedef struct {
@FIELDS@    ...;
} salon_out;

#define SALON_OK ...
#define SALON_STALE ...
#define SALON_UNSENT ...
#define SALON_PROTECT_FAILED ...
#define SALON_BUFFER ...

void salon_set_addr(salon_out *out, const char *addr, unsigned int len);
uint8_t *salon_buffer(salon_out *out);
void salon_bump(void);
uint64_t salon_generation(void);
int salon_fan_out(salon_protect_fn protect, const char *tpl, int len, int payload_len,
                  uint32_t seq, uint32_t ts, double now,
                  int32_t pid, int pid_pos, int pid_long, int32_t tl0, int tl0_pos,
                  salon_out **outs, int n, int *failed);
"""

SOURCE = r"""
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define SALON_OK 0
#define SALON_STALE 1            /* checked at an older generation: not sent */
#define SALON_UNSENT 2           /* protected, but sendto failed: bytes left in buf */
#define SALON_PROTECT_FAILED 3   /* libsrtp's status in error: not sent */
#define SALON_BUFFER 1500        /* the largest datagram, protected */

typedef int (*salon_protect_fn)(void *ctx, void *hdr, int *len);

typedef struct {
@FIELDS@    struct sockaddr_storage addr;
    uint8_t buf[SALON_BUFFER];
} salon_out;

static uint64_t generation = 1;

void salon_bump(void) { generation++; }
uint64_t salon_generation(void) { return generation; }

void salon_set_addr(salon_out *out, const char *addr, unsigned int len) {
    if (len > sizeof(out->addr)) len = sizeof(out->addr);
    memset(&out->addr, 0, sizeof(out->addr));
    memcpy(&out->addr, addr, len);
    out->addrlen = len;
}

uint8_t *salon_buffer(salon_out *out) { return out->buf; }

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int salon_fan_out(salon_protect_fn protect, const char *tpl, int len, int payload_len,
                  uint32_t seq_in, uint32_t ts_in, double now,
                  int32_t pid, int pid_pos, int pid_long, int32_t tl0, int tl0_pos,
                  salon_out **outs, int n, int *failed) {
    int sent = 0;
    *failed = 0;
    /* libsrtp needs room after the packet for its tag (and an MKI). */
    if (len < 12 || len > SALON_BUFFER - 148 || payload_len > len) return -1;
    if (pid_pos < 0 || pid_pos + (pid_long ? 1 : 0) >= len) pid = -1;
    if (tl0_pos < 0 || tl0_pos >= len) tl0 = -1;
    for (int i = 0; i < n; i++) {
        salon_out *o = outs[i];
        o->status = SALON_OK;
        if (o->gen != generation) {
            o->status = SALON_STALE;
            (*failed)++;
            continue;
        }
        /* StreamMap.map */
        uint32_t seq = (seq_in + o->seq_delta) & 0xFFFF;
        uint32_t ts = ts_in + o->ts_delta;
        uint32_t ahead = (seq - o->last_seq) & 0xFFFF;
        if (ahead && ahead < 0x8000) {
            o->last_seq = seq;
            o->last_ts = ts;
            o->last_time = now;
            if (pid >= 0) o->last_pid = (int32_t)(((uint32_t)pid + o->pid_delta) & 0x7FFF);
            if (tl0 >= 0) o->last_tl0 = (int32_t)(((uint32_t)tl0 + o->tl0_delta) & 0xFF);
        }
        uint8_t *b = o->buf;
        memcpy(b, tpl, (size_t)len);
        put16(b + 2, seq);
        put32(b + 4, ts);
        put32(b + 8, o->ssrc);
        /* Vp8Info.shifted */
        if (pid >= 0 && o->pid_delta) {
            uint32_t shifted = (uint32_t)pid + o->pid_delta;
            if (pid_long) {
                shifted &= 0x7FFF;
                b[pid_pos] = (uint8_t)(0x80 | (shifted >> 8));
                b[pid_pos + 1] = (uint8_t)shifted;
            } else {
                b[pid_pos] = (uint8_t)(shifted & 0x7F);
            }
        }
        if (tl0 >= 0 && o->tl0_delta) b[tl0_pos] = (uint8_t)(((uint32_t)tl0 + o->tl0_delta) & 0xFF);
        int size = len;
        int status = protect(o->srtp, b, &size);
        if (status) {
            o->status = SALON_PROTECT_FAILED;
            o->error = status;
            (*failed)++;
            continue;
        }
        o->len = size;
        if (sendto(o->fd, b, (size_t)size, MSG_DONTWAIT, (const struct sockaddr *)&o->addr,
                   (socklen_t)o->addrlen) < 0) {
            o->status = SALON_UNSENT;
            o->error = errno;
            (*failed)++;
            continue;
        }
        o->forwarded++;
        o->octets += (uint64_t)payload_len;
        sent++;
    }
    return sent;
}
"""

ffibuilder = FFI()
# One list of fields for both sides: cffi reads the declaration, the compiler the source.
ffibuilder.cdef(CDEF.replace("@FIELDS@", FIELDS))
ffibuilder.set_source(
    "rtcseams._fastsend", SOURCE.replace("@FIELDS@", FIELDS), extra_compile_args=["-O2"]
)

if __name__ == "__main__":
    import pathlib

    ffibuilder.compile(tmpdir=str(pathlib.Path(__file__).resolve().parent.parent), verbose=False)
