#include "sentencepiece_c.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct spc_processor {
    sentencepiece::SentencePieceProcessor impl;
};

namespace {
void write_error(char *error, size_t capacity, const std::string &message) {
    if (error == nullptr || capacity == 0) return;
    size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    std::memcpy(error, message.data(), n);
    error[n] = '\0';
}
}  // namespace

extern "C" spc_processor *spc_load(const char *path, char *error, size_t error_capacity) {
    auto *processor = new (std::nothrow) spc_processor();
    if (processor == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    const auto status = processor->impl.Load(path);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        delete processor;
        return nullptr;
    }
    return processor;
}

extern "C" void spc_free(spc_processor *processor) { delete processor; }

extern "C" int32_t spc_piece_count(const spc_processor *p) { return p->impl.GetPieceSize(); }
extern "C" int32_t spc_unk_id(const spc_processor *p) { return p->impl.unk_id(); }
extern "C" int32_t spc_bos_id(const spc_processor *p) { return p->impl.bos_id(); }
extern "C" int32_t spc_eos_id(const spc_processor *p) { return p->impl.eos_id(); }
extern "C" int32_t spc_pad_id(const spc_processor *p) { return p->impl.pad_id(); }

extern "C" const char *spc_id_to_piece(const spc_processor *p, int32_t id) {
    if (id < 0 || id >= p->impl.GetPieceSize()) return nullptr;
    return p->impl.IdToPiece(id).c_str();
}

extern "C" int32_t spc_piece_to_id(const spc_processor *p, const char *piece, size_t length) {
    return p->impl.PieceToId(std::string(piece, length));
}

extern "C" int spc_encode_ids(const spc_processor *p, const char *text, size_t length, int32_t **ids,
                              size_t *count, char *error, size_t error_capacity) {
    std::vector<int> out;
    const auto status = p->impl.Encode(std::string(text, length), &out);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return 1;
    }
    *count = out.size();
    *ids = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (out.empty() ? 1 : out.size())));
    if (*ids == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < out.size(); ++i) (*ids)[i] = out[i];
    return 0;
}

extern "C" int spc_encode_pieces(const spc_processor *p, const char *text, size_t length, char **pieces,
                                 size_t *bytes, size_t *count, char *error, size_t error_capacity) {
    std::vector<std::string> out;
    const auto status = p->impl.Encode(std::string(text, length), &out);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return 1;
    }
    size_t total = 0;
    for (const auto &piece : out) total += piece.size() + 1;
    *pieces = static_cast<char *>(std::malloc(total == 0 ? 1 : total));
    if (*pieces == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return 1;
    }
    size_t at = 0;
    for (const auto &piece : out) {
        std::memcpy(*pieces + at, piece.data(), piece.size());
        at += piece.size();
        (*pieces)[at++] = '\0';
    }
    *bytes = total;
    *count = out.size();
    return 0;
}

extern "C" int spc_decode_ids(const spc_processor *p, const int32_t *ids, size_t count, char **text,
                              size_t *bytes, char *error, size_t error_capacity) {
    std::vector<int> in(ids, ids + count);
    std::string out;
    const auto status = p->impl.Decode(in, &out);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return 1;
    }
    *text = static_cast<char *>(std::malloc(out.size() + 1));
    if (*text == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return 1;
    }
    std::memcpy(*text, out.data(), out.size());
    (*text)[out.size()] = '\0';
    *bytes = out.size();
    return 0;
}

extern "C" void spc_free_buffer(void *buffer) { std::free(buffer); }
