import CZstd
import Foundation

/// Why a file could not be read or written.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case corruptZstd(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): cannot read: \(reason)"
        case let .corruptZstd(path, reason): "\(path): not a valid zstd stream: \(reason)"
        case let .unwritable(path, reason): "\(path): cannot write: \(reason)"
        }
    }
}

/// Reading whole files, with zstd decompression for `.zst` paths, and atomic writes.
public enum Files {
    /// Why `path` cannot be read, in words (no raw NSError text): "does not exist", "is a directory", …
    public static func unreadableReason(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return "does not exist" }
        if isDirectory.boolValue { return "is a directory, expected a file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
        return "cannot be read"
    }

    /// Largest output a `.zst` file may expand to when neither its frame nor the caller states a size.
    public static let defaultDecompressedLimit = 4 << 30

    /// The bytes of `path`, decompressed when the name ends in `.zst`.
    ///
    /// `expectedSize`, for `.zst` files, is asked with the output so far until it returns the total size the content
    /// declares (a safetensors header states its data's length): decompression stops with an error as soon as the
    /// output exceeds it, or the size the zstd frame declares, or `defaultDecompressedLimit`, so a small file that
    /// expands to gigabytes is refused before it is held in memory. `chunk` sees the decompressed bytes as they
    /// arrive (a streaming hash).
    public static func read(_ path: String, expectedSize: (([UInt8]) throws -> Int?)? = nil,
                            chunk: ((UnsafeRawBufferPointer) -> Void)? = nil) throws -> [UInt8] {
        let raw: Data
        do {
            raw = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StorageError.unreadable(path: path, reason: unreadableReason(path))
        }
        let bytes = [UInt8](raw)
        if path.hasSuffix(".zst") { return try decompressZstd(bytes, path: path, expectedSize: expectedSize, chunk: chunk) }
        if let chunk { bytes.withUnsafeBytes { chunk($0) } }
        return bytes
    }

    /// Streaming decompression of one or more zstd frames; a truncated or corrupted stream is an error, and so is
    /// output beyond the frame's declared size, the caller's `expectedSize`, or `defaultDecompressedLimit`.
    public static func decompressZstd(_ input: [UInt8], path: String, expectedSize: (([UInt8]) throws -> Int?)? = nil,
                                      chunk: ((UnsafeRawBufferPointer) -> Void)? = nil) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw StorageError.corruptZstd(path: path, reason: "out of memory") }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        let chunkSize = ZSTD_DStreamOutSize()
        var output: [UInt8] = []
        var limit = defaultDecompressedLimit, limitSource = "the reader's limit"
        let frameSize = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, input.count) }
        if frameSize != ZSTD_CONTENTSIZE_UNKNOWN && frameSize != ZSTD_CONTENTSIZE_ERROR {
            if frameSize > UInt64(limit) {
                throw StorageError.corruptZstd(path: path, reason: "its frame declares \(frameSize) bytes, above the limit of \(limit)")
            }
            limit = Int(frameSize)
            limitSource = "the size its frame declares"
            output.reserveCapacity(Int(frameSize))
        }
        var declared: Int?
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var lastResult = 0
        try input.withUnsafeBytes { source in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            repeat {
                let produced: Int = try buffer.withUnsafeMutableBytes { target in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    if ZSTD_isError(result) != 0 {
                        throw StorageError.corruptZstd(path: path, reason: String(cString: ZSTD_getErrorName(result)))
                    }
                    lastResult = result
                    return outBuffer.pos
                }
                if output.count + produced > limit {
                    throw StorageError.corruptZstd(path: path, reason: "expands beyond \(limit) bytes (\(limitSource))")
                }
                output.append(contentsOf: buffer[0..<produced])
                if let chunk { buffer.withUnsafeBytes { chunk(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
                if declared == nil, let expectedSize, let size = try expectedSize(output) {
                    declared = size
                    if size < limit { (limit, limitSource) = (size, "the size its content declares") }
                }
                if produced == 0 && inBuffer.pos == inBuffer.size { break }
            } while inBuffer.pos < inBuffer.size || lastResult != 0
        }
        if lastResult != 0 || input.isEmpty {
            throw StorageError.corruptZstd(path: path, reason: input.isEmpty ? "empty file" : "truncated (frame incomplete)")
        }
        return output
    }

    /// zstd-compresses `bytes` (tests and small files; checkpoints are compressed by the converter).
    public static func compressZstd(_ bytes: [UInt8], level: Int32 = 3) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let size = output.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { ZSTD_compress(target.baseAddress, target.count, $0.baseAddress, $0.count, level) }
        }
        precondition(ZSTD_isError(size) == 0, "zstd compression failed")
        return Array(output[0..<size])
    }

    /// Writes `data` to a temporary file beside `path`, syncs it, and renames it over `path`, so readers see the
    /// old file or the new one, never a partial one.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw StorageError.unwritable(path: path, reason: "cannot create \(temporary)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary, path) != 0 {
                throw StorageError.unwritable(path: path, reason: String(cString: strerror(errno)))
            }
        } catch let error as StorageError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            let folder = directory.isEmpty ? "." : directory
            let reason = !FileManager.default.fileExists(atPath: folder) ? "its folder does not exist"
                : !FileManager.default.isWritableFile(atPath: folder) ? "permission denied" : "cannot write there"
            throw StorageError.unwritable(path: path, reason: reason)
        }
    }
}
