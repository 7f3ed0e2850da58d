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
    /// The bytes of `path`, decompressed when the name ends in `.zst`.
    public static func read(_ path: String) throws -> [UInt8] {
        let raw: Data
        do {
            raw = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StorageError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let bytes = [UInt8](raw)
        return path.hasSuffix(".zst") ? try decompressZstd(bytes, path: path) : bytes
    }

    /// Streaming decompression of one or more zstd frames; a truncated or corrupted stream is an error.
    public static func decompressZstd(_ input: [UInt8], path: String) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw StorageError.corruptZstd(path: path, reason: "out of memory") }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        let chunk = ZSTD_DStreamOutSize()
        var output: [UInt8] = []
        let frameSize = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, input.count) }
        if frameSize != ZSTD_CONTENTSIZE_UNKNOWN && frameSize != ZSTD_CONTENTSIZE_ERROR && frameSize < 1 << 36 {
            output.reserveCapacity(Int(frameSize))
        }
        var buffer = [UInt8](repeating: 0, count: chunk)
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
                output.append(contentsOf: buffer[0..<produced])
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
            throw StorageError.unwritable(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}
