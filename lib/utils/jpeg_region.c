/* Region decoding for lib/utils/jpeg_region.py: decode only the rows and columns of a JPEG that a
 * training crop reads, with libjpeg-turbo's jpeg_crop_scanline (columns: only the iMCU columns of
 * the region are inverse-DCT'd and colour-converted) and jpeg_skip_scanlines (rows above the region
 * are entropy-decoded only). Rows below the region are never decoded: decoding stops there.
 *
 * Built by `python -m lib.utils.jpeg_region build` (install.sh runs it). Errors, and libjpeg's
 * corrupt-data warnings, return -1 with the message, so that the caller falls back to a full decode,
 * which reports or tolerates the problem exactly as it does for every other frame.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#define JR_ABI_VERSION 2  /* lib/utils/jpeg_region.py checks it: a stale build is not used */

struct jr_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jr_error_exit(j_common_ptr cinfo) {
    struct jr_error *err = (struct jr_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

/* Level -1 is a corrupt-data warning: stop, so that the full decoder decides what such a file gives. */
static void jr_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) jr_error_exit(cinfo);
}

int jr_abi_version(void) { return JR_ABI_VERSION; }

/* Reads the header into *width and *height; then, when dst is not NULL, decodes at least columns
 * [x0, x1) of rows [y0, y1) as RGB into dst, the buffer of the whole frame (row stride dst_stride
 * bytes), leaving its other pixels as they are. The caller widens the region by a margin:
 * libjpeg-turbo rounds the columns out to iMCU boundaries, and the chroma upsampling next to a cut
 * edge differs from a full decode. Returns 0, or -1 with the reason in message. */
int jr_decode(const unsigned char *data, unsigned long size, int *width, int *height, int x0, int y0,
              int x1, int y1, unsigned char *dst, long dst_stride, char *message, int message_len) {
    struct jpeg_decompress_struct cinfo;
    struct jr_error err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jr_error_exit;
    err.pub.emit_message = jr_emit_message;
    if (setjmp(err.jump)) {
        snprintf(message, message_len, "%s", err.message);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    if (dst == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (x0 < 0 || y0 < 0 || x1 > (int)cinfo.output_width || y1 > (int)cinfo.output_height || x0 >= x1 ||
        y0 >= y1) {
        snprintf(message, message_len, "region [%d, %d) x [%d, %d) is not inside the %ux%u image", x0,
                 x1, y0, y1, cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    JDIMENSION xoffset = (JDIMENSION)x0, crop_width = (JDIMENSION)(x1 - x0);
    if (x0 > 0 || x1 < (int)cinfo.output_width) jpeg_crop_scanline(&cinfo, &xoffset, &crop_width);
    if (y0 > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
    while ((int)cinfo.output_scanline < y1) {
        JSAMPROW row = dst + (long)cinfo.output_scanline * dst_stride + (long)xoffset * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_abort_decompress(&cinfo);  /* the rows below the region are not wanted */
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
