/*
 * Private entry of the depthwise int8 conv (not part of the API, tt_depthwise_conv2d_s8.c) for
 * tt_conv_dw_pw_rows_s8: tt_depthwise_conv2d_s8 on an input whose channel c starts at x + c * plane
 * (plane >= in.h * in.w), such as the first n rows of each channel's window of kh rows, so that a window
 * cut by the map's top or bottom edge is one call over all channels too, not one call per channel.
 * TT_ERR_ARG: as tt_depthwise_conv2d_s8, or plane < in.h * in.w.
 *
 * DSP path only, tt_depthwise_conv2d_ring_s8: the window as a ring of `ring` rows per channel, row iy at
 * x + c * plane + ((first + iy) % ring) * in.w, so that the row kernels drop a row by moving `first` instead of
 * moving every channel's kept rows. Only where the depthwise copies each channel's rows into its padded buffer
 * anyway: in.h + pad_top + pad_bottom == kh and tt_depthwise_ring_ok (horizontal padding, kh padded rows fit).
 * TT_ERR_ARG: as above, or ring < in.h, first outside [0, ring), plane < ring * in.w, or not such a window.
 *
 * DSP path only, tt_depthwise_window_row_s8: one output row of every channel (out (C, 1, out.w)) from a window that
 * holds its padding itself: channel c's kh rows (in (C, kh, in.w), in.w the padded width) at x + c * plane + j * pitch
 * (rows closer than in.w share their padding), x_zero in the padding's places, kernel row ky in row slot
 * (top + ky) % kh (a ring whose padding rows fill the slots the map's rows leave free), no padding left to add. The
 * row kernels' windows with the padding written once (tt_conv_dw_pw_loop.h), so that no row is copied into a padded
 * buffer per output row.
 * form -1: the arguments are checked (TT_ERR_ARG: as tt_depthwise_conv2d_s8 with stride `stride` and no padding, or
 * in.h != kh, top outside [0, kh), pitch < 1, plane < kh * pitch, out.h != 1, or kh * kw > TT_DW_WINDOW_TAPS) and the
 * channels' shifts scanned; else form is what the layer's first row returned (the loop's later rows: only x, y and
 * top move), and only the window's geometry is checked. Returns the form for the next row (1: every channel in the
 * SSAT form, so that none is tested again, 0: not), or TT_ERR_ARG.
 *
 * DSP path only, tt_depthwise_window_table_row_s8: as tt_depthwise_window_row_s8 for a 3x3 layer whose channels are all
 * in the SSAT form (its first row returned form 1), their constants read from the layer's table (tt_conv_layer.table,
 * TT_DW_TABLE_WORDS a channel) instead of made from w, bias, mult and shift on every row. Returns 1, or 0 where the
 * row is not one its asm rows take (out.w not a multiple of 4, the stride-2 row's extra byte outside in.w, ...): then
 * nothing is written and tt_depthwise_window_row_s8 makes the row.
 */
#ifndef TT_DEPTHWISE_STRIDED_H
#define TT_DEPTHWISE_STRIDED_H

#include "tt_kernels.h"

int tt_depthwise_conv2d_strided_s8(const int8_t *x, int32_t plane, tt_dims in, const int8_t *w, int32_t kh,
                                   int32_t kw, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                   const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);

#if TT_USE_DSP
int tt_depthwise_ring_ok(tt_dims in, int32_t kh, const tt_conv_params *conv);
int tt_depthwise_conv2d_ring_s8(const int8_t *x, int32_t plane, int32_t ring, int32_t first, tt_dims in,
                                const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                                tt_dims out);

#define TT_DW_WINDOW_TAPS 49 /* up to 7 x 7 */
int tt_depthwise_window_row_s8(const int8_t *x, int32_t plane, int32_t pitch, int32_t top, tt_dims in,
                               const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int32_t stride, const tt_quant_params *q, int8_t *y, tt_dims out,
                               int form);
int tt_depthwise_window_table_row_s8(const int8_t *x, int32_t plane, int32_t pitch, int32_t top, tt_dims in,
                                     const int32_t *table, int32_t stride, int8_t *y, tt_dims out);
#endif

#endif /* TT_DEPTHWISE_STRIDED_H */
