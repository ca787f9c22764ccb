"""benchmarks.kernel_profile's reading of model.c: each call's kernel class and multiply-accumulates from
its arguments by position, whatever the parameters are named (a user model's names are mangled and
hashed, a split or per-channel weight is an expression), with the parameters the memory passes' loops
put a line above the call and a grad_update's blocks of `n` rows by `m` columns counted once for all.
The lines are the emitter's (codegen/templates*.py) for MCUNet paper-100kb, names made hashed."""
from benchmarks.kernel_profile import ProfiledProgram, by_kernel, call_sites
from tvm_tinytrain.targets.qemu import QemuProgram

W = "tt_p_features_3_conv_0_weight_0a1b2c3d4e"  # codegen/c_names.py: stem + hash, no `_weight` suffix
MODEL_C = f"""\
    /* features.3: conv2d_s8 */
    {{ static const tt_conv_params p = {{1, 0, 0, 0, 0, 1}}; static const tt_quant_params q = {{-128, 2, -128, 127}}; TT_CALL(tt_conv2d_s8(((int8_t *)(tt_arena + 10240)), (tt_dims){{160, 8, 8}}, {W}, 1, 1, tt_c9, tt_c46, tt_c47, &p, &q, ((int8_t *)(tt_arena + 76800)), (tt_dims){{48, 8, 8}})); }}
    /* features.4: depthwise_inplace_s8 */
    {{ static const tt_conv_params p = {{2, 2, 2, 2, 2, 160}}; static const tt_quant_params q = {{-128, -128, -128, 127}};
          TT_CALL(tt_depthwise_inplace_s8(((int8_t *)(tt_arena + 2560)) + 0, (tt_dims){{160, 8, 8}}, {W}, 5, 5, tt_c1 + 0, tt_c44 + 0, tt_c45 + 0, &p, &q, ((int8_t *)(tt_arena + 2560)) + 0, (tt_dims){{160, 4, 4}}, (int8_t *)(tt_arena + 0))); }}
    /* features.5: depthwise_grad_input_inplace */
    {{ static const tt_conv_params p = {{1, 2, 2, 2, 2, 8}};
          TT_CALL(tt_depthwise_grad_input_inplace_f32(((float *)(tt_arena + 0)) + 0, (tt_dims){{8, 4, 4}}, {W}_lead, 5, 5, tt_c98 + 0, &p, ((float *)(tt_arena + 0)) + 0, (tt_dims){{8, 4, 4}}, (float *)(tt_arena + 26112))); }}
    {{ static const tt_conv_params p = {{1, 2, 2, 2, 2, 376}};
          TT_CALL(tt_depthwise_grad_input_inplace_f32(((float *)(tt_arena + 0)) + 128, (tt_dims){{376, 4, 4}}, {W}_rest, 5, 5, tt_c98 + 8, &p, ((float *)(tt_arena + 0)) + 128, (tt_dims){{376, 4, 4}}, (float *)(tt_arena + 26112))); }}
    /* features.6: grad_update */
    for (int32_t o = 0; o < 384; o += 64) {{  /* the gradient of rows o..o+n-1, then their update */
        const int32_t n = 384 - o < 64 ? 384 - o : 64;
        for (int32_t c = 0; c < 12; c += 8) {{  /* their columns c..c+m-1 */
            const int32_t m = 12 - c < 8 ? 12 - c : 8;
            {{ static const tt_conv_params p = {{1, 0, 0, 0, 0, 1}}; TT_CALL(tt_conv2d_grad_weight_f32(((int8_t *)(tt_arena + 53728)) + c * 16, (tt_dims){{m, 4, 4}}, -1, 0.0316167623f, ((float *)(tt_arena + 0)) + o * 16, (tt_dims){{n, 4, 4}}, 1, 1, &p, 0, ((float *)(tt_arena + 30720)))); }}
            TT_CALL(tt_sgd_s8_block({W}_lead, ((float *)(tt_arena + 30720)), o, n, c, m, 12, 12, tt_lr_weight, tt_step, 36));
        }}
    }}
    /* blocks.15.pointwise1: conv2d_grad_input_dw_chunks */
    for (int32_t c0 = 0; c0 < 192; c0 += 16) {{  /* channels c0..c0+k-1 of the depthwise input gradient, masked, then read */
        const int32_t k = 192 - c0 < 16 ? 192 - c0 : 16;
        {{ tt_conv_params p = {{2, 3, 3, 3, 3, k}};
          TT_CALL(tt_conv2d_grad_input_f32(((float *)(tt_arena + 0)) + c0 * 16, (tt_dims){{k, 4, 4}}, {W} + c0 * 49, 7, 7, tt_c156 + c0, &p, ((float *)(tt_arena + 12288)), (tt_dims){{k, 8, 8}})); }}
        TT_CALL(tt_mask_grad_f32(((float *)(tt_arena + 12288)), ((uint8_t *)(tt_arena + 36864)) + c0 * 64 / 8, k * 64, ((float *)(tt_arena + 12288))));
        TT_CALL(tt_conv2d_1x1_grad_input_rows_f32(((float *)(tt_arena + 12288)), c0, k, 64, {W}, tt_c158, 32, ((float *)(tt_arena + 24576))));
    }}
    /* blocks.15.pointwise1: grad_update_dw_chunks */
    for (int32_t c0 = 0; c0 < 192; c0 += 16) {{  /* channels c0..c0+k-1 of the depthwise input gradient, masked, then read */
        const int32_t k = 192 - c0 < 16 ? 192 - c0 : 16;
        {{ tt_conv_params p = {{2, 3, 3, 3, 3, k}};
          TT_CALL(tt_conv2d_grad_input_f32(((float *)(tt_arena + 0)) + c0 * 16, (tt_dims){{k, 4, 4}}, {W} + c0 * 49, 7, 7, tt_c156 + c0, &p, ((float *)(tt_arena + 12288)), (tt_dims){{k, 8, 8}})); }}
        TT_CALL(tt_mask_grad_f32(((float *)(tt_arena + 12288)), ((uint8_t *)(tt_arena + 36864)) + c0 * 64 / 8, k * 64, ((float *)(tt_arena + 12288))));
        for (int32_t o = c0; o < c0 + k; o += 16) {{  /* the gradient of rows o..o+n-1, then their update */
            const int32_t n = c0 + k - o < 16 ? c0 + k - o : 16;
            for (int32_t c = 0; c < 32; c += 8) {{  /* their columns c..c+m-1 */
                const int32_t m = 32 - c < 8 ? 32 - c : 8;
                {{ static const tt_conv_params p = {{1, 0, 0, 0, 0, 1}}; TT_CALL(tt_conv2d_grad_weight_f32(((int8_t *)(tt_arena + 32768)) + c * 64, (tt_dims){{m, 8, 8}}, 8, 0.0683826059f, ((float *)(tt_arena + 12288)) + (o - c0) * 64, (tt_dims){{n, 8, 8}}, 1, 1, &p, 0, ((float *)((tt_arena + 12288) + 4096)))); }}
                TT_CALL(tt_sgd_s8_block({W}, ((float *)((tt_arena + 12288) + 4096)), o, n, c, m, 32, 32, tt_lr_weight, tt_step, 45));
            }}
        }}
    }}
    /* stem: conv_dw_pw_rows_s8 */
    {{ static const tt_conv_layer a = {{{W}, 3, 3, tt_c2, tt_c0, tt_c1, {{2, 1, 1, 1, 1, 1}}, {{0, -128, -128, 127}}}};
      static const tt_conv_layer b = {{tt_c7, 3, 3, tt_c8, tt_c2, tt_c3, {{1, 1, 1, 1, 1, 16}}, {{-128, -128, -128, 127}}}};
      static const tt_conv_layer c = {{tt_c9, 1, 1, tt_c10, tt_c4, tt_c5, {{1, 0, 0, 0, 0, 1}}, {{-128, -6, -128, 127}}}};
      TT_CALL(tt_conv_dw_pw_rows_s8(((int8_t *)(tt_arena + 0)), (tt_dims){{3, 128, 128}}, &a, (tt_dims){{16, 64, 64}}, &b, &c, ((int8_t *)(tt_arena + 49152)), (tt_dims){{8, 64, 64}}, (int8_t *)(tt_arena + 81920))); }}
    /* stem_rows: conv_dw_pw_rows_s8 */
    {{ static const tt_conv_layer a = {{{W}, 3, 3, tt_c2, tt_c0, tt_c1, {{2, 1, 1, 1, 1, 1}}, {{0, -128, -128, 127}}}};
      static const tt_conv_layer b = {{tt_c7, 3, 3, tt_c8, tt_c2, tt_c3, {{1, 1, 1, 1, 1, 16}}, {{-128, -128, -128, 127}}}};
      static const tt_conv_layer c = {{tt_c9, 1, 1, tt_c10, tt_c4, tt_c5, {{1, 0, 0, 0, 0, 1}}, {{-128, -6, -128, 127}}}};
      TT_CALL(tt_conv_dw_pw_stream_s8(rows, (tt_dims){{3, 128, 128}}, &a, (tt_dims){{16, 64, 64}}, &b, &c, ((int8_t *)(tt_arena + 0)), (tt_dims){{8, 64, 64}}, (int8_t *)(tt_arena + 32768))); }}
    /* stem_chain: conv_dw_pw_rows_s8 */
    {{ static const tt_conv_layer a0 = {{{W}, 3, 3, tt_c2, tt_c0, tt_c1, {{2, 1, 1, 1, 1, 1}}, {{0, -128, -128, 127}}}};
      static const tt_conv_layer b0 = {{tt_c7, 3, 3, tt_c8, tt_c2, tt_c3, {{1, 1, 1, 1, 1, 16}}, {{-128, -128, -128, 127}}}};
      static const tt_conv_layer c0 = {{tt_c9, 1, 1, tt_c10, tt_c4, tt_c5, {{1, 0, 0, 0, 0, 1}}, {{-128, -6, -128, 127}}}};
      static const tt_conv_layer a1 = {{tt_c9, 1, 1, tt_c10, tt_c4, tt_c5, {{1, 0, 0, 0, 0, 1}}, {{-6, -128, -128, 127}}}};
      static const tt_conv_layer b1 = {{tt_c7, 3, 3, tt_c8, tt_c2, tt_c3, {{2, 1, 1, 1, 1, 48}}, {{-128, -128, -128, 127}}}};
      static const tt_conv_layer c1 = {{tt_c9, 1, 1, tt_c10, tt_c4, tt_c5, {{1, 0, 0, 0, 0, 1}}, {{-128, -6, -128, 127}}}};
      TT_CALL(tt_conv_dw_pw_chain_s8(rows, (tt_dims){{3, 128, 128}}, &a0, (tt_dims){{16, 64, 64}}, &b0, &c0, (tt_dims){{8, 64, 64}}, &a1, (tt_dims){{48, 64, 64}}, &b1, &c1, ((int8_t *)(tt_arena + 0)), (tt_dims){{16, 32, 32}}, (int8_t *)(tt_arena + 32768))); }}
"""


def sites_by_layer():
    """layer -> its first call (a grad_update's gradient, before its update)."""
    first = {}
    for site in call_sites(MODEL_C).values():
        first.setdefault(site["layer"], site)
    return first


def test_kernel_classes_by_argument_position():
    s = sites_by_layer()
    assert s["features.3"]["kernel"] == "conv2d_1x1_s8"
    assert s["features.4"]["kernel"] == "depthwise_conv2d_s8 5x5 s2"
    assert s["features.5"]["kernel"] == "conv2d_grad_input_f32 5x5 dw s1"
    assert s["features.6"]["kernel"] == "conv2d_grad_weight_f32 1x1"
    assert s["stem"]["kernel"] == "conv_dw_pw_rows_s8"
    assert s["stem_rows"]["kernel"] == "conv_dw_pw_stream_s8"


def test_macs_per_call_and_per_row_loop():
    s = sites_by_layer()
    assert (s["features.3"]["macs"], s["features.3"]["per_call"]) == (48 * 64 * 160, True)
    assert (s["features.4"]["macs"], s["features.4"]["per_call"]) == (160 * 16 * 25, True)  # all channels, one call
    assert (s["features.5"]["macs"], s["features.5"]["per_call"]) == (8 * 16 * 25, True)  # the trained 8 channels
    assert (s["features.6"]["macs"], s["features.6"]["per_call"]) == (384 * 12 * 16, False)  # all 12 blocks
    assert s["stem"]["macs"] == 16 * 64 * 64 * 9 * 3 + 16 * 64 * 64 * 9 + 8 * 64 * 64 * 16
    # the streamed stem (codegen/input_stream.py): the same arguments with the row source for x, the same MACs
    assert (s["stem_rows"]["macs"], s["stem_rows"]["per_call"]) == (s["stem"]["macs"], True)
    block1 = 48 * 64 * 64 * 8 + 48 * 32 * 32 * 9 + 16 * 32 * 32 * 48  # the chained reader: 1x1, 3x3 s2 dw, 1x1
    assert s["stem_chain"]["kernel"] == "conv_dw_pw_chain_s8" and s["stem_chain"]["macs"] == s["stem"]["macs"] + block1


def test_chunked_depthwise_gradient_counted_for_all_its_channels():
    """chunk_depthwise_grad (under --sram-budget): a loop over chunks of k channels, a grad_update's loop of
    rows inside it; each call's MACs those of all its chunks."""
    calls = [s for s in call_sites(MODEL_C).values() if s["layer"] == "blocks.15.pointwise1"]
    dw, _, rows, dw_again, _, gw, _ = calls
    assert dw["kernel"] == dw_again["kernel"] == "conv2d_grad_input_f32 7x7 dw s2"
    assert (dw["macs"], dw["per_call"]) == (192 * 16 * 49, False)
    assert rows["kernel"] == "conv2d_1x1_grad_input_rows_f32" and rows["macs"] == 192 * 64 * 32
    assert gw["kernel"] == "conv2d_grad_weight_f32 1x1" and (gw["macs"], gw["per_call"]) == (192 * 32 * 64, False)


def test_by_kernel_counts_macs_of_every_call_and_the_floor():
    s = sites_by_layer()
    calls = [("features.4", 1, 640_000), ("features.6", 96, 300_000)]
    result = {"calls": [dict(request="train", calls=n, instructions=i, kernel=s[layer]["kernel"],
                             macs=s[layer]["macs"] * (n if s[layer]["per_call"] else 1)) for layer, n, i in calls]}
    rows = {r["kernel"]: r for r in by_kernel(result, "train")}
    dw = rows["depthwise_conv2d_s8 5x5 s2"]
    assert dw["macs"] == 160 * 400 and dw["per_mac"] == 10.0 and dw["to_floor"] == 20.0  # int8: 0.5 per MAC
    gw = rows["conv2d_grad_weight_f32 1x1"]
    assert gw["macs"] == 384 * 12 * 16 and gw["to_floor"] == gw["per_mac"]  # float: 1 per MAC


def test_the_profiled_firmware_is_a_qemu_program():
    assert issubclass(ProfiledProgram, QemuProgram)


def test_projection_chunks_counted_for_all_their_channels():
    """chunk_depthwise_grad through a projection (MCUNet blocks.9 under --sram-budget 150K): the projection's
    input gradient of k channels a chunk, counted once for all 192 channels (48 x 64 x 192 MACs)."""
    text = f"""\
    /* blocks.9.depthwise: bias_grad_pw_chunks */
    for (int32_t c0 = 0; c0 < 192; c0 += 16) {{  /* channels c0..c0+k-1 of the gradient, masked, then read */
        const int32_t k = 192 - c0 < 16 ? 192 - c0 : 16;
        TT_CALL(tt_conv2d_1x1_grad_input_channels_f32(((float *)(tt_arena + 0)), 48, 64, {W}, tt_c117, c0, k, 192, ((float *)(tt_arena + 12288))));
        TT_CALL(tt_mask_grad_f32(((float *)(tt_arena + 12288)), ((uint8_t *)(tt_arena + 62848)) + c0 * 64 / 8, k * 64, ((float *)(tt_arena + 12288))));
        TT_CALL(tt_bias_grad_f32(((float *)(tt_arena + 12288)), k, 64, ((float *)(tt_arena + 16384)) + c0));
    }}
"""
    pw, _, _ = call_sites(text).values()
    assert pw["kernel"] == "conv2d_1x1_grad_input_channels_f32"
    assert (pw["macs"], pw["per_call"]) == (48 * 64 * 192, False)
