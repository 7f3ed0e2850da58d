import CSentencePiece
import Foundation

/// A SentencePiece model (`.model`) through libsentencepiece.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    // libsentencepiece's Encode/Decode are const and safe to call from several threads.
    private let processor: OpaquePointer
    private let path: String
    private let lowercase: Bool
    public let template: PairTemplate
    public let padId: Int32
    public let vocabularySize: Int
    /// XLM-R's ids (fairseq's dictionary): <s> 0, <pad> 1, </s> 2, <unk> 3, every other SentencePiece id + 1.
    private let fairseqIds: Bool
    private let unknownId: Int32

    /// Loads `path` with XLM-R's (fairseq's) id mapping: `<s> A </s></s> B </s>`, <pad> 1, <unk> 3, SentencePiece ids
    /// shifted by one, <mask> after the last piece — what Hugging Face's XLMRobertaTokenizer gives.
    public init(xlmRobertaModelFile path: String) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let processor = spc_load(path, &error, error.count) else {
            throw TokenizerError.sentencePiece(path: path, reason: String(cString: error))
        }
        self.processor = processor
        self.path = path
        lowercase = false
        fairseqIds = true
        unknownId = spc_unk_id(processor)
        vocabularySize = Int(spc_piece_count(processor)) + 2
        padId = 1
        template = .roberta(bos: 0, eos: 2)
    }

    /// Loads `path`. `specialTokens` names the pieces for the template (`cls`/`sep` for ALBERT-style,
    /// `<s>`/`</s>` for XLM-R-style); nil gives raw ids with no specials added.
    public init(modelFile path: String, lowercase: Bool = false, specialTokens: (first: String, second: String)? = nil) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let processor = spc_load(path, &error, error.count) else {
            throw TokenizerError.sentencePiece(path: path, reason: String(cString: error))
        }
        self.processor = processor
        self.path = path
        self.lowercase = lowercase
        fairseqIds = false
        unknownId = spc_unk_id(processor)
        self.vocabularySize = Int(spc_piece_count(processor))
        let pad = spc_pad_id(processor)
        self.padId = pad >= 0 ? pad : 0
        guard let specialTokens else {
            self.template = .none
            return
        }
        let unknown = spc_unk_id(processor)
        func id(_ piece: String) throws -> Int32 {
            let id = piece.withCString { spc_piece_to_id(processor, $0, strlen($0)) }
            if id == unknown && piece != String(cString: spc_id_to_piece(processor, unknown)) {
                spc_free(processor)
                throw TokenizerError.missingSpecialToken(token: piece, path: path)
            }
            return id
        }
        let first = try id(specialTokens.first), second = try id(specialTokens.second)
        self.template = specialTokens.first == "<s>" ? .roberta(bos: first, eos: second) : .bert(cls: first, sep: second)
    }

    deinit { spc_free(processor) }

    public func tokenize(_ text: String) -> [Int32] {
        let input = lowercase ? text.lowercased() : text
        var ids: UnsafeMutablePointer<Int32>?
        var count = 0
        var error = [CChar](repeating: 0, count: 512)
        // The UTF-8 length, not strlen: text may hold U+0000, which strlen would end the input at.
        let length = input.utf8.count
        let status = input.withCString { spc_encode_ids(processor, $0, length, &ids, &count, &error, error.count) }
        guard status == 0, let ids else { return [] }
        defer { spc_free_buffer(ids) }
        let raw = UnsafeBufferPointer(start: ids, count: count)
        guard fairseqIds else { return Array(raw) }
        return raw.map { $0 == unknownId ? 3 : $0 + 1 }
    }

    /// Surface pieces of `text`, as `spm_encode --output_format=piece` prints them.
    public func pieces(_ text: String) -> [String] {
        var buffer: UnsafeMutablePointer<CChar>?
        var bytes = 0, count = 0
        var error = [CChar](repeating: 0, count: 512)
        let length = text.utf8.count
        let status = text.withCString {
            spc_encode_pieces(processor, $0, length, &buffer, &bytes, &count, &error, error.count)
        }
        guard status == 0, let buffer else { return [] }
        defer { spc_free_buffer(buffer) }
        var result: [String] = []
        var at = buffer
        for _ in 0..<count {
            let piece = String(cString: at)
            result.append(piece)
            at += strlen(at) + 1
        }
        return result
    }

    /// Text for ids.
    public func decode(_ ids: [Int32]) -> String {
        var text: UnsafeMutablePointer<CChar>?
        var bytes = 0
        var error = [CChar](repeating: 0, count: 512)
        let status = ids.withUnsafeBufferPointer {
            spc_decode_ids(processor, $0.baseAddress, $0.count, &text, &bytes, &error, error.count)
        }
        guard status == 0, let text else { return "" }
        defer { spc_free_buffer(text) }
        return String(cString: text)
    }

    /// The piece for an id.
    public func piece(_ id: Int32) -> String? {
        spc_id_to_piece(processor, id).map { String(cString: $0) }
    }
}
