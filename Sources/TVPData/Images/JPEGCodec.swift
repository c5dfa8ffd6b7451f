import CJPEGShim
import TVPFormats
import TVPTensor

/// JPEG files through libjpeg (via the CJPEGShim C target, which turns libjpeg's longjmp errors into
/// return codes). Grayscale, YCbCr and RGB JPEGs read as 8-bit RGB; CMYK/YCCK are refused.
public enum JPEGCodec: ImageCodec {
    /// Whether `bytes` start with a JPEG SOI marker followed by another marker (FF D8 FF).
    public static func isJPEG<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.count >= 3 && Array(bytes.prefix(3)) == [0xFF, 0xD8, 0xFF]
    }

    /// Decodes JPEG bytes; errors name `file`.
    public static func decode(_ bytes: [UInt8], file: String) throws -> RGB8Image {
        guard isJPEG(bytes) else {
            throw DataError(file, "not a JPEG file: it starts with \(hexPrefix(bytes)), a JPEG starts with ff d8 ff")
        }
        var decoded = tvp_jpeg_image()
        var message = [CChar](repeating: 0, count: Int(TVP_JPEG_MESSAGE_SIZE))
        let code = bytes.withUnsafeBufferPointer { tvp_jpeg_decode_rgb($0.baseAddress, $0.count, ReaderLimits.maxPixels, &decoded, &message) }
        if code == TVP_JPEG_TOO_LARGE,
           let problem = ReaderLimits.pixelProblem(width: Int(decoded.width), height: Int(decoded.height)) {
            throw DataError(file, "JPEG image of \(problem)")
        }
        guard code == 0, let pixels = decoded.pixels else {
            throw DataError(file, "cannot decode JPEG: \(String(cString: message))")
        }
        defer { tvp_jpeg_free(pixels) }
        let count = Int(decoded.width) * Int(decoded.height) * 3
        return try RGB8Image(width: Int(decoded.width), height: Int(decoded.height),
                             pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Writes `image` ([3, H, W] or [1, H, W] in [0, 1]; clamped and rounded to 8 bits) as a
    /// baseline JPEG at `quality` (1…100), atomically (temporary file, then rename).
    public static func write(_ image: Tensor, to path: String, quality: Int = 90) throws {
        try write(RGB8Image(tensor: image), to: path, quality: quality)
    }

    /// Writes 8-bit RGB pixels as a JPEG at `quality` (1…100), atomically.
    public static func write(_ image: RGB8Image, to path: String, quality: Int = 90) throws {
        try writeFileAtomically(encode(image, quality: quality, file: path), to: path)
    }

    /// The bytes of a JPEG file holding `image` at `quality` (1…100).
    public static func encode(_ image: RGB8Image, quality: Int, file: String = "<memory>") throws -> [UInt8] {
        guard (1...100).contains(quality) else { throw DataError(file, "JPEG quality \(quality) is outside 1...100") }
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(TVP_JPEG_MESSAGE_SIZE))
        let code = image.pixels.withUnsafeBufferPointer {
            tvp_jpeg_encode_rgb($0.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), &output, &size, &message)
        }
        guard code == 0, let output else { throw DataError(file, "cannot encode JPEG: \(String(cString: message))") }
        defer { tvp_jpeg_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
