import TVPTensor

// The corruptions that go through 8-bit images, as the reference's PIL calls do: JPEG and pixelate.
// The input is quantized to bytes (round(255·x)), which is exact for byte / 255 images.

/// Interleaved 8-bit RGB of one image's planes.
func rgb8(_ x: CorruptionImage) throws -> RGB8Image {
    let planes = quantizeToBytes(x.values, count: x.count)
    var pixels = [UInt8](repeating: 0, count: x.count)
    for p in 0..<x.plane { for c in 0..<3 { pixels[p * 3 + c] = planes[c * x.plane + p] } }
    return try RGB8Image(width: x.width, height: x.height, pixels: pixels)
}

/// Encodes as JPEG at `quality` (libjpeg defaults: 4:2:0 chroma, islow DCT, as PIL's `save`) and decodes.
func jpegCompressionCorruption(_ x: CorruptionImage, quality: Int, into out: UnsafeMutablePointer<Float>) throws {
    let bytes = try JPEGCodec.encode(rgb8(x), quality: quality, file: "<jpeg_compression>")
    let decoded = try JPEGCodec.decode(bytes, file: "<jpeg_compression>")
    decoded.writePlanes(into: out)
}

/// PIL BOX resize to (int(W · factor), int(H · factor)) and BOX back to (W, H), 8-bit arithmetic.
func pixelateCorruption(_ x: CorruptionImage, factor: Double, into out: UnsafeMutablePointer<Float>) {
    let small = (h: max(Int(Double(x.height) * factor), 1), w: max(Int(Double(x.width) * factor), 1))
    let planes = quantizeToBytes(x.values, count: x.count)
    let down = pilResamplePlanes8(planes, planes: 3, height: x.height, width: x.width,
                                  outHeight: small.h, outWidth: small.w, filter: .box)
    let up = pilResamplePlanes8(down, planes: 3, height: small.h, width: small.w,
                                outHeight: x.height, outWidth: x.width, filter: .box)
    for i in 0..<x.count { out[i] = Float(up[i]) / 255 }
}
