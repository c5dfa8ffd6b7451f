import TVPFormats
import TVPTensor

/// An image file format tvp reads: PNG (`PNGCodec`) or JPEG (`JPEGCodec`).
public protocol ImageCodec {
    /// Decodes the format's bytes to 8-bit RGB; errors name `file`.
    static func decode(_ bytes: [UInt8], file: String) throws -> RGB8Image
}

extension ImageCodec {
    /// Reads the file at `path` as [3, H, W] floats in [0, 1].
    public static func read(_ path: String) throws -> Tensor {
        try decode(readFileBytes(path), file: path).tensor()
    }
}

/// Image files by content (PNG or JPEG signature, whatever the extension says).
public enum ImageFile {
    /// Decodes a PNG or JPEG file to 8-bit RGB.
    public static func decode(_ path: String) throws -> RGB8Image {
        let bytes = try readFileBytes(path)
        if PNGCodec.isPNG(bytes) { return try PNGCodec.decode(bytes, file: path) }
        if JPEGCodec.isJPEG(bytes) { return try JPEGCodec.decode(bytes, file: path) }
        throw DataError(path, "neither a PNG nor a JPEG file: it starts with \(hexPrefix(bytes))")
    }

    /// Reads a PNG or JPEG file as [3, H, W] floats in [0, 1].
    public static func read(_ path: String) throws -> Tensor { try decode(path).tensor() }
}
