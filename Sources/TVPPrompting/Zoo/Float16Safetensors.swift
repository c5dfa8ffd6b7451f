import Foundation
import TVPModels
import TVPTensor

/// Writes tensors as an F16 safetensors file (the zoo's committed weights: half the size of F32;
/// `Safetensors.read` widens them back to Float32). Same layout rules as `Safetensors.write`: keys
/// sorted by UTF-8 bytes, header padded with spaces to a multiple of 8, written to a temporary file
/// in the same folder and renamed.
public enum Float16Safetensors {
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        if tensors["__metadata__"] != nil { throw ZooError("\(path): '__metadata__' cannot name a tensor") }
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { "\(json($0)):\(json(metadata[$0]!))" }
            parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            for i in 0..<t.count where abs(t.data[i]) > 65504 || !t.data[i].isFinite {
                throw ZooError("\(path): tensor '\(name)' holds \(t.data[i]) at \(i), which F16 cannot represent")
            }
            parts.append("\(json(name)):{\"dtype\":\"F16\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + 2 * t.count)]}")
            offset += 2 * t.count
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        for name in names {
            let t = tensors[name]!
            for i in 0..<t.count { withUnsafeBytes(of: Float16(t.data[i]).bitPattern.littleEndian) { bytes += $0 } }
        }
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {   // over an existing file in one step
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ZooError("\(path): cannot rename the written file into place: \(reason)")
        }
    }

    private static func json(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
