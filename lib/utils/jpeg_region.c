/* Region decoding for lib/utils/jpeg_region.py: decode only the rows and columns of a JPEG that a
 * training crop reads, with libjpeg-turbo's jpeg_crop_scanline (columns: only the iMCU columns of
 * the region are inverse-DCT'd and colour-converted) and jpeg_skip_scanlines (rows above the region
 * are entropy-decoded only). Rows below the region are never decoded: decoding stops there.
 *
 * Optionally it also gives the frame's mean colour (LoRAT pads its crops with it) without decoding
 * the pixels outside the region: a block's DC coefficient is 8 times the mean of its samples, so the
 * mean of each component comes from the DC coefficients alone, which entropy decoding yields for every
 * block (rows below the region are then entropy-decoded too). The colour conversion is affine, so the
 * RGB mean follows from the component means. It differs from the mean of the decoded pixels only by
 * the rounding and the clamping to [0, 255] that the inverse DCT and the colour conversion apply
 * pixel by pixel (and the chroma upsampling at the frame edges): a small fraction of a level on
 * camera frames (lib/utils/jpeg_region.py documents and tests the bound).
 *
 * libjpeg-turbo is opened by its path (JR_LIBJPEG, the library the build found) in a scope of its own
 * instead of being linked: the process may already hold another libjpeg under the same soname
 * (torchvision wheels have bundled IJG libjpeg as libjpeg.so.62), and a linked library would bind to
 * that one, which has neither jpeg_skip_scanlines nor the structures this file reads.
 *
 * Built by `python -m lib.utils.jpeg_region build` (install.sh runs it). Errors, and libjpeg's
 * corrupt-data warnings, return -1 with the message, so that the caller falls back to a full decode,
 * which reports or tolerates the problem exactly as it does for every other frame.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#ifndef LIBJPEG_TURBO_VERSION
#error "jpeg_region.c needs libjpeg-turbo (jpeg_crop_scanline, jpeg_skip_scanlines)"
#endif

#ifndef JR_LIBJPEG
#error "build with -DJR_LIBJPEG='\"/path/to/libjpeg.so.62\"' (python -m lib.utils.jpeg_region build does)"
#endif

#define JR_ABI_VERSION 4  /* lib/utils/jpeg_region.py checks it: a stale build is not used */

#define JR_JPEG_FUNCTIONS(X) X(jpeg_std_error) X(jpeg_CreateDecompress) X(jpeg_destroy_decompress) \
    X(jpeg_abort_decompress) X(jpeg_mem_src) X(jpeg_read_header) X(jpeg_start_decompress) \
    X(jpeg_crop_scanline) X(jpeg_skip_scanlines) X(jpeg_read_scanlines) X(jpeg_has_multiple_scans)
#define JR_POINTER(name) static __typeof__(&name) jr_##name;
JR_JPEG_FUNCTIONS(JR_POINTER)

/* Opens JR_LIBJPEG and finds its functions; 0, or -1 with the reason in message. Called once before
 * any decode (lib/utils/jpeg_region.py). */
int jr_open_libjpeg(char *message, int message_len) {
    void *handle = dlopen(JR_LIBJPEG, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(message, message_len, "%s", dlerror());
        return -1;
    }
#define JR_LOOKUP(name) \
    if (!(jr_##name = (__typeof__(jr_##name))dlsym(handle, #name))) { \
        snprintf(message, message_len, "%s has no %s", JR_LIBJPEG, #name); \
        return -1; \
    }
    JR_JPEG_FUNCTIONS(JR_LOOKUP)
    return 0;
}

/* Every libjpeg call below goes through the pointers (jpeg_create_decompress expands to
 * jpeg_CreateDecompress). */
#define jpeg_std_error jr_jpeg_std_error
#define jpeg_CreateDecompress jr_jpeg_CreateDecompress
#define jpeg_destroy_decompress jr_jpeg_destroy_decompress
#define jpeg_abort_decompress jr_jpeg_abort_decompress
#define jpeg_mem_src jr_jpeg_mem_src
#define jpeg_read_header jr_jpeg_read_header
#define jpeg_start_decompress jr_jpeg_start_decompress
#define jpeg_crop_scanline jr_jpeg_crop_scanline
#define jpeg_skip_scanlines jr_jpeg_skip_scanlines
#define jpeg_read_scanlines jr_jpeg_read_scanlines
#define jpeg_has_multiple_scans jr_jpeg_has_multiple_scans

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

/* libjpeg-turbo's entropy decoder interface (jpegint.h, not installed; the same members since libjpeg
 * 6b). Only decode_mcu is used: it is wrapped to see each MCU's coefficients. */
struct jpeg_entropy_decoder {
    void (*start_pass)(j_decompress_ptr cinfo);
    boolean (*decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);
    boolean insufficient_data;
};

/* The sums of one decode, reached through cinfo->client_data. */
struct jr_dc_sums {
    boolean (*decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);  /* the wrapped one */
    JBLOCK scratch[D_MAX_BLOCKS_IN_MCU];  /* coefficients of MCUs that jpeg_skip_scanlines discards */
    JBLOCKROW scratch_rows[D_MAX_BLOCKS_IN_MCU];
    int block_x[D_MAX_BLOCKS_IN_MCU], block_y[D_MAX_BLOCKS_IN_MCU];  /* block position within the MCU */
    int ratio_x[MAX_COMPS_IN_SCAN], ratio_y[MAX_COMPS_IN_SCAN];      /* image pixels per sample */
    double sum[MAX_COMPS_IN_SCAN];  /* per component: sum over blocks of pixels covered x block mean */
    double basis[DCTSIZE][DCTSIZE];  /* [x][u]: IDCT basis function u at sample x */
    long mcus, mcu_count;
};

static long covered(long start, long length, long limit) {
    long end = start + length < limit ? start + length : limit;
    return end > start ? end - start : 0;
}

/* Weights of the IDCT basis functions for the mean of a block's first n samples along one axis, each
 * sample weighted by the image pixels it covers: ratio, or last_width for the last one. */
static void axis_weights(const struct jr_dc_sums *dc, int n, long ratio, long last_width, double *weights) {
    for (int u = 0; u < DCTSIZE; u++) {
        double total = 0.0;
        for (int x = 0; x < n; x++) total += (x == n - 1 ? last_width : ratio) * dc->basis[x][u];
        weights[u] = total / (double)((n - 1) * ratio + last_width);
    }
}

/* The mean of a block's samples (before the level shift) over the image pixels they cover: DC / 8 for
 * a block inside the image. An edge block that reaches past the image (its other samples are the
 * encoder's padding) takes it from all its coefficients: the separable IDCT averaged over its samples
 * inside the image, weighted by the pixels each covers. */
static double block_mean(const struct jr_dc_sums *dc, const JCOEF *coef, const UINT16 *quant, long wide,
                         long high, long rx, long ry) {
    if (wide == DCTSIZE * rx && high == DCTSIZE * ry) return (double)coef[0] * quant[0] / DCTSIZE;
    int nx = (int)((wide + rx - 1) / rx), ny = (int)((high + ry - 1) / ry);
    double wx[DCTSIZE], wy[DCTSIZE], mean = 0.0;
    axis_weights(dc, nx, rx, wide - (nx - 1) * rx, wx);
    axis_weights(dc, ny, ry, high - (ny - 1) * ry, wy);
    for (int v = 0; v < DCTSIZE; v++)
        for (int u = 0; u < DCTSIZE; u++)
            if (coef[v * DCTSIZE + u]) mean += (double)coef[v * DCTSIZE + u] * quant[v * DCTSIZE + u] * wx[u] * wy[v];
    return mean;
}

static boolean jr_decode_mcu_dc(j_decompress_ptr cinfo, JBLOCKROW *MCU_data) {
    struct jr_dc_sums *dc = (struct jr_dc_sums *)cinfo->client_data;
    long row = dc->mcus / (long)cinfo->MCUs_per_row, col = dc->mcus % (long)cinfo->MCUs_per_row;
    boolean edge = col == (long)cinfo->MCUs_per_row - 1 || row == (long)cinfo->MCU_rows_in_scan - 1;
    JBLOCKROW *blocks = MCU_data;
    if (blocks == NULL) {
        blocks = dc->scratch_rows;
        /* the entropy decoder writes only the nonzero AC coefficients; edge blocks read them all */
        if (edge) memset(dc->scratch, 0, sizeof(JBLOCK) * (size_t)cinfo->blocks_in_MCU);
    }
    if (!dc->decode_mcu(cinfo, blocks)) return FALSE;  /* suspended: it is called again for this MCU */
    dc->mcus++;
    for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
        int ci = cinfo->MCU_membership[b];
        jpeg_component_info *comp = cinfo->cur_comp_info[ci];
        long bx = col * comp->MCU_width + dc->block_x[b], by = row * comp->MCU_height + dc->block_y[b];
        long rx = dc->ratio_x[ci], ry = dc->ratio_y[ci];
        long wide = covered(bx * DCTSIZE * rx, DCTSIZE * rx, cinfo->image_width);
        long high = covered(by * DCTSIZE * ry, DCTSIZE * ry, cinfo->image_height);
        if (!wide || !high) continue;  /* a dummy block of an edge MCU */
        dc->sum[ci] += (double)(wide * high) *
                       block_mean(dc, blocks[b][0], comp->quant_table->quantval, wide, high, rx, ry);
    }
    return TRUE;
}

/* Checks that the DC means can be used for this file (one interleaved-or-single-component baseline
 * scan, integer sampling ratios, a colour space whose conversion to RGB is affine) and prepares dc.
 * Called after jpeg_read_header; returns 0, or -1 with the reason. */
static int jr_dc_prepare(j_decompress_ptr cinfo, struct jr_dc_sums *dc, char *message, int message_len) {
    /* one sequential DCT scan of 8-bit samples (Ss..Se = 0..63; a lossless file has a predictor in Ss) */
    if (jpeg_has_multiple_scans(cinfo) || cinfo->Ss != 0 || cinfo->Se != DCTSIZE2 - 1 ||
        cinfo->data_precision != 8) {
        snprintf(message, message_len, "mean colour: not a single-scan (baseline) 8-bit DCT JPEG");
        return -1;
    }
    if (!(cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_GRAYSCALE ||
          cinfo->jpeg_color_space == JCS_RGB)) {
        snprintf(message, message_len, "mean colour: colour space %d is not YCbCr, RGB or grey",
                 (int)cinfo->jpeg_color_space);
        return -1;
    }
    memset(dc, 0, sizeof(*dc));
    for (int ci = 0; ci < cinfo->num_components; ci++) {
        jpeg_component_info *comp = &cinfo->comp_info[ci];
        if (cinfo->max_h_samp_factor % comp->h_samp_factor || cinfo->max_v_samp_factor % comp->v_samp_factor) {
            snprintf(message, message_len, "mean colour: non-integer sampling ratio of component %d", ci);
            return -1;
        }
    }
    for (int b = 0; b < D_MAX_BLOCKS_IN_MCU; b++) dc->scratch_rows[b] = &dc->scratch[b];
    for (int x = 0; x < DCTSIZE; x++)  /* C(u) / 2 cos((2x + 1) u pi / 16), C(0) = 1 / sqrt(2) */
        for (int u = 0; u < DCTSIZE; u++)
            dc->basis[x][u] = (u ? 0.5 : 0.5 / sqrt(2.0)) * cos((2 * x + 1) * u * M_PI / (2 * DCTSIZE));
    return 0;
}

/* Called after jpeg_start_decompress (the scan's components and MCU layout are known): wraps the
 * entropy decoder. */
static void jr_dc_start(j_decompress_ptr cinfo, struct jr_dc_sums *dc) {
    int b = 0;
    for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
        jpeg_component_info *comp = cinfo->cur_comp_info[ci];
        dc->ratio_x[ci] = cinfo->max_h_samp_factor / comp->h_samp_factor;
        dc->ratio_y[ci] = cinfo->max_v_samp_factor / comp->v_samp_factor;
        if (cinfo->comps_in_scan == 1) dc->ratio_x[ci] = dc->ratio_y[ci] = 1;  /* grey: MCU = one block */
        for (int y = 0; y < comp->MCU_height; y++)
            for (int x = 0; x < comp->MCU_width; x++, b++) {
                dc->block_x[b] = x;
                dc->block_y[b] = y;
            }
    }
    dc->mcu_count = (long)cinfo->MCUs_per_row * (long)cinfo->MCU_rows_in_scan;
    dc->decode_mcu = cinfo->entropy->decode_mcu;
    cinfo->client_data = dc;
    cinfo->entropy->decode_mcu = jr_decode_mcu_dc;
}

/* The RGB mean from the component means (libjpeg's YCbCr -> RGB constants), clamped to [0, 255]. */
static int jr_dc_finish(j_decompress_ptr cinfo, struct jr_dc_sums *dc, double *mean, char *message,
                        int message_len) {
    if (dc->mcus != dc->mcu_count) {
        snprintf(message, message_len, "mean colour: %ld of %ld MCUs seen", dc->mcus, dc->mcu_count);
        return -1;
    }
    double pixels = (double)cinfo->image_width * (double)cinfo->image_height, c[3] = {0.0, 0.0, 0.0};
    for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
        int index = cinfo->cur_comp_info[ci]->component_index;  /* Y, Cb, Cr (or R, G, B) */
        if (index < 3) c[index] = dc->sum[ci] / pixels + CENTERJSAMPLE;
    }
    if (cinfo->jpeg_color_space == JCS_GRAYSCALE) {
        mean[0] = mean[1] = mean[2] = c[0];
    } else if (cinfo->jpeg_color_space == JCS_RGB) {
        mean[0] = c[0], mean[1] = c[1], mean[2] = c[2];
    } else {
        double cb = c[1] - CENTERJSAMPLE, cr = c[2] - CENTERJSAMPLE;
        mean[0] = c[0] + 1.40200 * cr;
        mean[1] = c[0] - 0.34414 * cb - 0.71414 * cr;
        mean[2] = c[0] + 1.77200 * cb;
    }
    for (int i = 0; i < 3; i++) mean[i] = mean[i] < 0.0 ? 0.0 : (mean[i] > MAXJSAMPLE ? MAXJSAMPLE : mean[i]);
    return 0;
}

/* The decoding of jr_decode after the header (y0 == y1: no row wanted): region rows into dst and,
 * with dc, every MCU through the entropy decoder. */
static void jr_decode_rows(j_decompress_ptr cinfo, int x0, int y0, int x1, int y1, unsigned char *dst,
                           long dst_stride, struct jr_dc_sums *dc) {
    cinfo->out_color_space = JCS_RGB;
    jpeg_start_decompress(cinfo);
    if (dc != NULL) jr_dc_start(cinfo, dc);
    JDIMENSION xoffset = (JDIMENSION)x0, crop_width = (JDIMENSION)(x1 - x0);
    if (x0 > 0 || x1 < (int)cinfo->output_width) jpeg_crop_scanline(cinfo, &xoffset, &crop_width);
    if (y0 > 0) jpeg_skip_scanlines(cinfo, (JDIMENSION)y0);
    while ((int)cinfo->output_scanline < y1) {
        JSAMPROW row = dst + (long)cinfo->output_scanline * dst_stride + (long)xoffset * 3;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    if (dc != NULL) {
        /* Every MCU must pass the entropy decoder. Skipping to the last row would stop without decoding
         * (libjpeg-turbo ends the pass there), so the rows up to it are skipped and the last one read. */
        JDIMENSION last = cinfo->output_height - 1;
        if (cinfo->output_scanline < last) jpeg_skip_scanlines(cinfo, last - cinfo->output_scanline);
        if (cinfo->output_scanline == last) {
            JSAMPARRAY spare = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
                                                           cinfo->output_width * 3, 1);
            jpeg_read_scanlines(cinfo, spare, 1);
        }
    }
}

/* Reads the header into *width and *height; then, when dst is not NULL, decodes at least columns
 * [x0, x1) of rows [y0, y1) as RGB into dst, the buffer of the whole frame (row stride dst_stride
 * bytes), leaving its other pixels as they are. The caller widens the region by a margin:
 * libjpeg-turbo rounds the columns out to iMCU boundaries, and the chroma upsampling next to a cut
 * edge differs from a full decode. When mean is not NULL, it also receives the frame's RGB mean from
 * the DC coefficients (see the top of this file); the region may then be empty (x0 == x1 or
 * y0 == y1). Returns 0, or -1 with the reason in message. */
int jr_decode(const unsigned char *data, unsigned long size, int *width, int *height, int x0, int y0,
              int x1, int y1, unsigned char *dst, long dst_stride, double *mean, char *message,
              int message_len) {
    struct jpeg_decompress_struct cinfo;
    struct jr_error err;
    struct jr_dc_sums dc;
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
    boolean empty = x0 >= x1 || y0 >= y1;
    if (x0 < 0 || y0 < 0 || x1 > (int)cinfo.image_width || y1 > (int)cinfo.image_height ||
        (empty && mean == NULL)) {
        snprintf(message, message_len, "region [%d, %d) x [%d, %d) is not inside the %ux%u image", x0,
                 x1, y0, y1, cinfo.image_width, cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (mean != NULL && jr_dc_prepare(&cinfo, &dc, message, message_len)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jr_decode_rows(&cinfo, empty ? 0 : x0, empty ? 0 : y0, empty ? 1 : x1, empty ? 0 : y1, dst, dst_stride,
                   mean != NULL ? &dc : NULL);
    if (mean != NULL && jr_dc_finish(&cinfo, &dc, mean, message, message_len)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_abort_decompress(&cinfo);  /* the rows below the region are not wanted */
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
