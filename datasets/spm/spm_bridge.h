// C ABI of librnnlab_spm.so, the only code in rnnlab that links sentencepiece.
//
// sentencepiece (Debian 0.1.97) carries its own protobuf 3.14 and cannot share a
// link namespace with libtorch's protobuf 3.21: linked into one executable, the
// process segfaults before main() or aborts at the first sentencepiece call.
// rnnlab_data therefore loads this library with dlmopen(LM_ID_NEWLM, ...) and
// talks to it only through these functions: plain ints, chars and buffers the
// caller owns; no C++ object, exception or allocation crosses the boundary.
//
// Conventions: functions return >= 0 on success and -1 on failure, in which case
// a one-line message is copied (truncated, NUL-terminated) into err[0..err_cap).
// Functions that fill a buffer return the size they need; when that is larger
// than the capacity given, nothing useful was written and the caller retries.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Version of this ABI; bumped on any incompatible change.
#define RNNLAB_SPM_ABI_VERSION 1
int rnnlab_spm_abi_version(void);

/// Trains a model. `options` holds sentencepiece's training flags, one
/// "name=value" per line ("input=/tmp/x.txt\nmodel_prefix=/tmp/m\n..."), so that
/// paths may contain spaces. Returns 0 or -1.
int rnnlab_spm_train(const char* options, char* err, size_t err_cap);

/// Loads a .model file; returns a handle (> 0) or -1.
int rnnlab_spm_load(const char* path, char* err, size_t err_cap);

/// Releases a handle from rnnlab_spm_load (unknown handles are ignored).
void rnnlab_spm_free(int handle);

/// Number of pieces in the model, or -1 for a bad handle.
int rnnlab_spm_vocab_size(int handle);

/// Encodes text[0..len) (one line, no newline). Writes up to cap ids, and when
/// begins/ends are not NULL the byte span of each piece in text. Returns the
/// number of pieces, or -1.
long rnnlab_spm_encode(int handle, const char* text, size_t len, int* ids, int* begins, int* ends,
                       size_t cap, char* err, size_t err_cap);

/// Decodes ids[0..n) into out[0..cap) (not NUL-terminated). Returns the number of
/// bytes of the decoded text, or -1.
long rnnlab_spm_decode(int handle, const int* ids, size_t n, char* out, size_t cap, char* err,
                       size_t err_cap);

/// Copies the piece of `id` into out[0..cap) (not NUL-terminated). Returns its
/// length in bytes, or -1 for a bad handle or id.
long rnnlab_spm_id_to_piece(int handle, int id, char* out, size_t cap);

#ifdef __cplusplus
}
#endif
