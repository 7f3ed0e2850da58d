import Crypto
import Foundation
import Numerics
import Storage

/// Why a checkpoint could not be loaded.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case missingTensor(path: String, name: String)
    case wrongShape(path: String, name: String, expected: [Int], found: [Int])
    case unsupportedType(path: String, name: String, dtype: String)
    case invalidConfig(path: String, reason: String)
    case integrity(path: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): cannot read: \(reason)"
        case let .malformed(path, reason): "\(path): not a valid safetensors file: \(reason)"
        case let .missingTensor(path, name): "\(path): missing tensor \(name)"
        case let .wrongShape(path, name, expected, found): "\(path): tensor \(name) has shape \(found), expected \(expected)"
        case let .unsupportedType(path, name, dtype): "\(path): tensor \(name) has type \(dtype); expected F32, F16 or BF16"
        case let .invalidConfig(path, reason): "\(path): \(reason)"
        case let .integrity(path, expected, found):
            "\(path): SHA-256 of its contents is \(found), but manifest.json says \(expected): the file was altered or damaged"
        }
    }
}

/// A parsed safetensors file: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.
public struct SafeTensorsFile {
    public struct Entry {
        public var dtype: String
        public var shape: [Int]
        public var range: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Parses `bytes` (already decompressed), checking every offset against the file's length.
    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count >= 8 else { throw CheckpointError.malformed(path: path, reason: "shorter than its 8-byte header length") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= Self.maximumHeaderBytes, headerLength <= bytes.count - 8 else {
            throw CheckpointError.malformed(path: path, reason: "header length \(headerLength) exceeds the file (\(bytes.count) bytes): truncated?")
        }
        let headerObject: Any
        do {
            headerObject = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)]))
        } catch {
            throw CheckpointError.malformed(path: path, reason: "header is not valid JSON")
        }
        guard let header = headerObject as? [String: Any] else {
            throw CheckpointError.malformed(path: path, reason: "header is not a JSON object")
        }
        let dataStart = 8 + headerLength, dataLength = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError.malformed(path: path, reason: "entry \(name) lacks dtype, shape or data_offsets") }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw CheckpointError.malformed(path: path, reason: "tensor \(name) lies outside the file: truncated?")
            }
            guard let count = Self.elementCount(shape) else {
                throw CheckpointError.malformed(path: path, reason: "tensor \(name) has an invalid shape \(shape)")
            }
            let elementBytes = Self.elementBytes[dtype]
            if let elementBytes, count.multipliedReportingOverflow(by: elementBytes) != (offsets[1] - offsets[0], false) {
                throw CheckpointError.malformed(path: path, reason: "tensor \(name): \(offsets[1] - offsets[0]) bytes for shape \(shape) of \(dtype)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.path = path
        self.entries = entries
        self.bytes = bytes
        self.dataStart = dataStart
    }

    /// Longest JSON header read (real checkpoints: tens of kilobytes).
    public static let maximumHeaderBytes = 100 << 20
    static let elementBytes = ["F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "F64": 8, "I8": 1, "U8": 1, "BOOL": 1]

    /// Elements of a shape; nil for a negative dimension or a count that overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The total length a safetensors file's first bytes declare (8 + header + the furthest tensor end), once enough
    /// of it is there; nil while the header is incomplete. Bounds decompression of `.zst` checkpoints.
    static func declaredLength(_ prefix: [UInt8], path: String) throws -> Int? {
        guard prefix.count >= 8 else { return nil }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(prefix[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= maximumHeaderBytes else {
            throw CheckpointError.malformed(path: path, reason: "header length \(headerLength) is not in 1...\(maximumHeaderBytes)")
        }
        guard prefix.count >= 8 + headerLength else { return nil }
        guard let header = (try? JSONSerialization.jsonObject(with: Data(prefix[8..<(8 + headerLength)]))) as? [String: Any] else {
            throw CheckpointError.malformed(path: path, reason: "header is not a JSON object")
        }
        var end = 0
        for (name, value) in header where name != "__metadata__" {
            guard let offsets = (value as? [String: Any])?["data_offsets"] as? [Int], offsets.count == 2, offsets[1] >= 0 else {
                throw CheckpointError.malformed(path: path, reason: "entry \(name) lacks data_offsets")
            }
            end = Swift.max(end, offsets[1])
        }
        return 8 + headerLength + end
    }

    /// SHA-256 of the (decompressed) contents, when `init(path:expectedSHA256:)` verified it.
    public private(set) var verifiedSHA256: String?

    /// Reads a (possibly `.zst`-compressed) file; decompression stops at the length its header declares. With
    /// `expectedSHA256` (a converted checkpoint's manifest), the contents are hashed as they are decompressed and a
    /// mismatch is an error.
    public init(path: String, expectedSHA256: String? = nil) throws {
        let bytes: [UInt8]
        var hasher = SHA256()
        do {
            bytes = try Files.read(path, expectedSize: { try Self.declaredLength($0, path: path) },
                                   chunk: expectedSHA256 == nil ? nil : { hasher.update(bufferPointer: $0) })
        } catch let error as CheckpointError {
            throw error
        } catch let error as StorageError {
            switch error {
            case .unreadable(_, let reason): throw CheckpointError.unreadable(path: path, reason: reason)
            case .corruptZstd(_, let reason): throw CheckpointError.malformed(path: path, reason: "zstd stream \(reason)")
            case .unwritable(_, let reason): throw CheckpointError.unreadable(path: path, reason: reason)
            }
        }
        if let expectedSHA256 {
            let found = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            guard found == expectedSHA256.lowercased() else {
                throw CheckpointError.integrity(path: path, expected: expectedSHA256, found: found)
            }
            try self.init(bytes: bytes, path: path)
            verifiedSHA256 = found
        } else {
            try self.init(bytes: bytes, path: path)
        }
    }

    /// Whether the entry holds floating-point values this reader converts.
    public func isFloat(_ name: String) -> Bool { ["F32", "F16", "BF16"].contains(entries[name]?.dtype ?? "") }

    /// The tensor's values converted to float32 (F16 and BF16 widened exactly).
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw CheckpointError.missingTensor(path: path, name: name) }
        let count = entry.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        let base = dataStart + entry.range.lowerBound
        try bytes.withUnsafeBytes { raw in
            switch entry.dtype {
            case "F32":
                for i in 0..<count { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self)) }
            case "F16":
                for i in 0..<count { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self))) }
            case "BF16":
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self)) << 16)
                }
            default:
                throw CheckpointError.unsupportedType(path: path, name: name, dtype: entry.dtype)
            }
        }
        return out
    }

    /// Integer tensors (I32/I64) as Int32, for fixtures.
    public func ints(_ name: String) throws -> [Int32] {
        guard let entry = entries[name] else { throw CheckpointError.missingTensor(path: path, name: name) }
        let count = entry.shape.reduce(1, *), base = dataStart + entry.range.lowerBound
        return try bytes.withUnsafeBytes { raw in
            switch entry.dtype {
            case "I32": return (0..<count).map { raw.loadUnaligned(fromByteOffset: base + 4 * $0, as: Int32.self) }
            case "I64": return (0..<count).map { Int32(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: base + 8 * $0, as: Int64.self)) }
            default: throw CheckpointError.unsupportedType(path: path, name: name, dtype: entry.dtype)
            }
        }
    }
}

/// Serialises float32 tensors as safetensors bytes (names sorted, header padded to 8 bytes).
public func safeTensorsBytes(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) -> [UInt8] {
    var header: [String: Any] = ["__metadata__": ["format": "pt"]]
    var offset = 0
    let sorted = tensors.sorted { $0.name < $1.name }
    for t in sorted {
        header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
        offset += 4 * t.values.count
    }
    var json = [UInt8]((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data())
    while json.count % 8 != 0 { json.append(0x20) }
    var out = [UInt8]()
    out.reserveCapacity(8 + json.count + offset)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: json.count >> (8 * i))) }
    out += json
    for t in sorted {
        for v in t.values {
            let bits = v.bitPattern
            out.append(UInt8(truncatingIfNeeded: bits))
            out.append(UInt8(truncatingIfNeeded: bits >> 8))
            out.append(UInt8(truncatingIfNeeded: bits >> 16))
            out.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
    }
    return out
}
