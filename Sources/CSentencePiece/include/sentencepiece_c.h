// A small C API over libsentencepiece's C++ SentencePieceProcessor, so Swift needs no C++ interop.
// Every function that can fail returns 0 on success and writes a message into `error` (NUL-terminated).
#ifndef SENTENCEPIECE_C_H
#define SENTENCEPIECE_C_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct spc_processor spc_processor;

/// Loads a serialized `.model` file; NULL on failure with the reason in `error`.
spc_processor *spc_load(const char *path, char *error, size_t error_capacity);
void spc_free(spc_processor *processor);

int32_t spc_piece_count(const spc_processor *processor);
int32_t spc_unk_id(const spc_processor *processor);
int32_t spc_bos_id(const spc_processor *processor);
int32_t spc_eos_id(const spc_processor *processor);
int32_t spc_pad_id(const spc_processor *processor);
/// The piece's bytes (valid while the processor lives), or NULL for an out-of-range id.
const char *spc_id_to_piece(const spc_processor *processor, int32_t id);
/// The id of a piece, or the unknown id when the vocabulary lacks it.
int32_t spc_piece_to_id(const spc_processor *processor, const char *piece, size_t length);

/// Encodes UTF-8 text into ids. `*ids` is malloc'ed; release it with spc_free_buffer.
int spc_encode_ids(const spc_processor *processor, const char *text, size_t length,
                   int32_t **ids, size_t *count, char *error, size_t error_capacity);
/// Encodes UTF-8 text into surface pieces, returned as one malloc'ed buffer of NUL-terminated strings.
int spc_encode_pieces(const spc_processor *processor, const char *text, size_t length,
                      char **pieces, size_t *bytes, size_t *count, char *error, size_t error_capacity);
/// Decodes ids into malloc'ed UTF-8 text (NUL-terminated, length in `*bytes`).
int spc_decode_ids(const spc_processor *processor, const int32_t *ids, size_t count,
                   char **text, size_t *bytes, char *error, size_t error_capacity);
void spc_free_buffer(void *buffer);

#ifdef __cplusplus
}
#endif
#endif
