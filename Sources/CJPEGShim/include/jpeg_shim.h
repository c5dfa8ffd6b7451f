// libjpeg with errors as return codes: libjpeg's default error handler calls exit(), and the usual
// replacement longjmps, which Swift cannot do. These wrappers do the setjmp in C.
#ifndef TVP_JPEG_SHIM_H
#define TVP_JPEG_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Room for libjpeg's formatted message plus a short prefix.
#define TVP_JPEG_MESSAGE_SIZE 256

/// A decoded image: `pixels` holds height rows of width RGB triples (8 bits each), malloc'd;
/// release it with tvp_jpeg_free.
typedef struct {
    unsigned char *pixels;
    int width;
    int height;
} tvp_jpeg_image;

/// Returned by tvp_jpeg_decode_rgb when the header's width × height exceeds `max_pixels`; the
/// header's size is in out->width and out->height, and nothing was decoded or allocated.
#define TVP_JPEG_TOO_LARGE 4

/// Decodes the JPEG in `data[0..<size]` to 8-bit RGB (grayscale is replicated to three channels).
/// Returns 0 on success; otherwise nonzero with `message` saying what is wrong (CMYK and YCCK are
/// refused; a stream that ends early is an error, not a grey-filled image). Images of more than
/// `max_pixels` pixels are refused from their header (TVP_JPEG_TOO_LARGE); libjpeg's own working
/// memory is capped in proportion, and a progressive stream of more than 1000 scans is refused.
int tvp_jpeg_decode_rgb(const unsigned char *data, size_t size, size_t max_pixels, tvp_jpeg_image *out,
                        char message[TVP_JPEG_MESSAGE_SIZE]);

/// Encodes width×height RGB triples at `quality` (1...100, baseline, 4:2:0 as libjpeg's defaults).
/// Returns 0 on success with the file's bytes in *out (malloc'd; free with tvp_jpeg_free) and
/// their count in *out_size; otherwise nonzero with `message`.
int tvp_jpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                        unsigned char **out, size_t *out_size, char message[TVP_JPEG_MESSAGE_SIZE]);

/// Frees memory returned by the functions above.
void tvp_jpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
