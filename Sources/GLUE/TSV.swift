import Foundation
import Storage

/// A file that does not have the shape a GLUE loader expects; names the file and the 1-based line.
public struct GLUEError: Error, CustomStringConvertible, Equatable {
    public var path: String
    /// The line (1-based), or nil for a problem of the whole file.
    public var line: Int?
    public var expected: String
    public var description: String { line.map { "\(path):\($0): \(expected)" } ?? "\(path): \(expected)" }

    public init(path: String, line: Int?, expected: String) {
        self.path = path
        self.line = line
        self.expected = expected
    }
}

/// `text`, cut to `limit` characters with a note of what was left out (messages never echo a 10 MB line).
func excerpt(_ text: some StringProtocol, limit: Int = 120) -> String {
    text.count <= limit ? String(text) : String(text.prefix(limit)) + "… (\(text.count - limit) more characters)"
}

/// The examples of one split, and what was skipped in lenient mode.
public struct GLUESplit: Sendable {
    public var path: String
    public var task: GLUETask
    public var examples: [Example]
    /// Rows skipped as malformed (always 0 in strict mode).
    public var skipped: Int
    /// Rows per label, keyed by the label as written.
    public var labelCounts: [String: Int]
}

/// Loads GLUE TSV files: split on tabs with **no quote processing** (GLUE text holds literal quotes), a UTF-8 BOM
/// stripped, CRLF accepted, invalid UTF-8 an error, columns found by header name, `.tsv.zst` read transparently.
public enum GLUELoader {
    /// Reads `path` for `task`. Strict mode fails on the first malformed row; lenient mode skips malformed rows
    /// (wrong field count, unknown label) and counts them. Errors that concern the whole file (unreadable, no
    /// header, missing columns, invalid UTF-8) fail in either mode.
    public static func load(_ task: GLUETask, path: String, lenient: Bool = false) throws -> GLUESplit {
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path)
        } catch let error as StorageError {
            if case .unreadable(_, let reason) = error { throw GLUEError(path: path, line: nil, expected: "a TSV file, but it \(reason)") }
            throw GLUEError(path: path, line: nil, expected: "a readable TSV file (\(error))")
        }
        var lines = splitLines(bytes)
        guard let headerBytes = lines.first, !(lines.count == 1 && headerBytes.isEmpty) else {
            throw GLUEError(path: path, line: 1, expected: "a header row, found an empty file")
        }
        if lines.last?.isEmpty == true { lines.removeLast() }  // the final newline
        var header = try decode(headerBytes, path: path, line: 1).split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        if let first = header.first, first.hasPrefix("\u{FEFF}") { header[0] = String(first.dropFirst()) }

        func column(_ name: String) throws -> Int {
            let matches = header.indices.filter { header[$0] == name }
            guard let index = matches.first else {
                throw GLUEError(path: path, line: 1, expected: "a column named \"\(name)\" for \(task.rawValue) (header has: \(excerpt(header.joined(separator: ", "), limit: 200)))")
            }
            guard matches.count == 1 else {
                throw GLUEError(path: path, line: 1, expected: "one column named \"\(name)\", found \(matches.count) (columns \(matches.map { String($0 + 1) }.joined(separator: ", ")))")
            }
            return index
        }
        let firstColumn = try column(task.textColumns.first)
        let secondColumn = try task.textColumns.second.map(column)
        let labelColumn = try column(task.labelColumn)
        let labelIds = Dictionary(uniqueKeysWithValues: task.labels.enumerated().map { ($1, $0) })

        var examples: [Example] = []
        examples.reserveCapacity(lines.count)
        var skipped = 0
        var counts: [String: Int] = [:]
        for index in 1..<lines.count {
            let lineNumber = index + 1
            let text = try decode(lines[index], path: path, line: lineNumber)
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false)
            var problem: String?
            if fields.count != header.count {
                problem = "\(header.count) tab-separated fields as in the header, found \(fields.count)"
            } else if labelIds[String(fields[labelColumn])] == nil {
                problem = "a label in column \"\(task.labelColumn)\" among \(task.labels.joined(separator: ", ")), found \"\(excerpt(fields[labelColumn], limit: 80))\""
            }
            if let problem {
                if lenient {
                    skipped += 1
                    continue
                }
                throw GLUEError(path: path, line: lineNumber, expected: problem)
            }
            let label = String(fields[labelColumn])
            counts[label, default: 0] += 1
            examples.append(Example(first: String(fields[firstColumn]), second: secondColumn.map { String(fields[$0]) },
                                    label: labelIds[label]!, line: lineNumber))
        }
        return GLUESplit(path: path, task: task, examples: examples, skipped: skipped, labelCounts: counts)
    }

    /// The path of a split under a GLUE root, preferring `name` and falling back to `name.zst`.
    /// The file of `task` under `root`: `file`, or `file.zst`; both present is an error (which would be read?).
    public static func path(root: String, task: GLUETask, file: String) throws -> String {
        let plain = "\(root)/\(task.directoryName)/\(file)"
        let compressed = plain + ".zst"
        let fm = FileManager.default
        switch (fm.fileExists(atPath: plain), fm.fileExists(atPath: compressed)) {
        case (true, true):
            throw GLUEError(path: plain, line: nil, expected: "both \(file) and \(file).zst are present: remove one, so that it is clear which is read")
        case (false, true): return compressed
        default: return plain
        }
    }

    private static func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        return body.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line
        }
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, path: String, line: Int) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw GLUEError(path: path, line: line, expected: "valid UTF-8 text")
        }
        return text
    }
}
