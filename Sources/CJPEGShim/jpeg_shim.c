#include "jpeg_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/// libjpeg's error manager plus where to jump on an error and where to put its message.
typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf escape;
    char *message;
} shim_error;

static void shim_error_exit(j_common_ptr cinfo) {
    shim_error *error = (shim_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, TVP_JPEG_MESSAGE_SIZE, "%s", text);
    longjmp(error->escape, 1);
}

/// Warnings are ignored (real photo collections hold files with harmless ones, such as extraneous
/// bytes before a marker) except image data that ends early: a premature end of the file means it
/// is truncated, and a marker inside the data (or one where a restart marker belongs) means it is
/// corrupt. libjpeg would fill the rest of the image with grey, so a few hundred bytes whose header
/// claims a quarter of a gigapixel would otherwise take seconds and most of a gigabyte.
static void shim_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC) {
        shim_error *error = (shim_error *)cinfo->err;
        snprintf(error->message, TVP_JPEG_MESSAGE_SIZE, "%s: the JPEG data ends before the image is complete",
                 code == JWRN_JPEG_EOF ? "truncated" : "corrupt (premature end of a data segment)");
        longjmp(error->escape, 1);
    }
}

static void shim_install(shim_error *error, char *message) {
    jpeg_std_error(&error->manager);
    error->manager.error_exit = shim_error_exit;
    error->manager.emit_message = shim_emit_message;
    error->message = message;
    message[0] = 0;
}

/// Progressive streams may hold any number of scans, each a pass over the whole image: more than
/// real encoders write (a few dozen) means a hostile file built to take minutes.
static void shim_limit_scans(j_common_ptr cinfo) {
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->is_decompressor && dinfo->input_scan_number > 1000) {
        shim_error *error = (shim_error *)cinfo->err;
        snprintf(error->message, TVP_JPEG_MESSAGE_SIZE, "more than 1000 progressive scans (a malformed or hostile file)");
        longjmp(error->escape, 1);
    }
}

int tvp_jpeg_decode_rgb(const unsigned char *data, size_t size, size_t max_pixels, tvp_jpeg_image *out,
                        char message[TVP_JPEG_MESSAGE_SIZE]) {
    struct jpeg_decompress_struct cinfo;
    shim_error error;
    struct jpeg_progress_mgr progress;
    /* volatile: read after a longjmp */
    unsigned char *volatile pixels = NULL;
    out->pixels = NULL;
    out->width = 0;
    out->height = 0;
    cinfo.err = NULL;
    shim_install(&error, message);
    cinfo.err = &error.manager;
    if (setjmp(error.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = shim_limit_scans;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((unsigned long long)cinfo.image_width * cinfo.image_height > max_pixels) {
        out->width = (int)cinfo.image_width;
        out->height = (int)cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        return TVP_JPEG_TOO_LARGE;
    }
    /* Whole-image buffers (progressive coefficients: 2 bytes per component) stay in proportion. */
    cinfo.mem->max_memory_to_use = (long)(max_pixels * 8 + (64L << 20));
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(message, TVP_JPEG_MESSAGE_SIZE, "%s JPEG is not supported (only grayscale, YCbCr and RGB)",
                 cinfo.jpeg_color_space == JCS_CMYK ? "CMYK" : "YCCK (Adobe CMYK)");
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        snprintf(message, TVP_JPEG_MESSAGE_SIZE, "out of memory for %ux%u pixels", cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return 3;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    out->pixels = pixels;
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int tvp_jpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                        unsigned char **out, size_t *out_size, char message[TVP_JPEG_MESSAGE_SIZE]) {
    struct jpeg_compress_struct cinfo;
    shim_error error;
    /* jpeg_mem_dest owns this buffer until jpeg_finish_compress; volatile: read after a longjmp */
    unsigned char *volatile buffer = NULL;
    unsigned long buffer_size = 0;
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || quality < 1 || quality > 100) {
        snprintf(message, TVP_JPEG_MESSAGE_SIZE, "bad arguments: %dx%d pixels, quality %d (1...100)", width, height, quality);
        return 1;
    }
    shim_install(&error, message);
    cinfo.err = &error.manager;
    if (setjmp(error.escape)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &buffer_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_size = (size_t)buffer_size;
    return 0;
}

void tvp_jpeg_free(void *pointer) { free(pointer); }
