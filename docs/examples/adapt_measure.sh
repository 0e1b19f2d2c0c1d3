#!/bin/sh
# The adaptation and CAREamics measurements of docs/adapt.md (one thread per training; each
# medden run started together with its CAREamics run). In the measured session the
# fluorescence pair ran first, overlapping the first CT pair, and the steps were typed one by
# one; this script is the same commands in order.
# Usage: sh docs/examples/adapt_measure.sh WORK/   (CAREamics in /work/careamics-venv)
set -e
D=${1:-/tmp/ad} O=docs/benchmarks/adapt CM=/work/careamics-venv/bin/python
export OMP_NUM_THREADS=1
mkdir -p $D/bundles $D/runs $O

# CT: the ct bundle's 8 held-out slices are scored; the other 46 are the site's noisy images.
python docs/examples/heldout_split.py configs/bundles/ct_denoise.yaml $D/ct_held
mkdir -p $D/ct_adapt_clean
for f in /work/shared/data/ct/dicom/*.dcm; do
    [ -e "$D/ct_held/$(basename "$f")" ] || ln -s "$f" "$D/ct_adapt_clean/"
done
noise=ct_lowdose:hu=40,kernel=ramp
medden noise $D/ct_held $D/ct_held_noisy --noise $noise --seed 1 --quiet
medden noise $D/ct_adapt_clean $D/ct_adapt_noisy --noise $noise --seed 2 --quiet
python docs/examples/adapt_study.py npy $D/ct_adapt_noisy $D/npy/ct_adapt
python docs/examples/adapt_study.py npy $D/ct_held_noisy $D/npy/ct_held
adapt() {  # NAME FROM DATA ARGS...: a 15-minute one-thread adaptation
    name=$1 from=$2 data=$3; shift 3
    nice -n 5 medden adapt --from $from --data $data --minutes 15 --set performance.threads=1 \
        --out $D/bundles/$name --run $D/runs/$name --quiet "$@"
}
careamics() {  # TRAIN TEST OUT
    nice -n 5 $CM docs/examples/careamics_n2v2.py "$1" "$2" "$3" --minutes 15 --threads 1
}
score() {  # CASE (ct or fl) METHOD...: evaluate CASE_out/METHOD against CASE_held
    case=$1; shift
    for m in "$@"; do
        test=$D/${case}_out/$m; [ $m = noisy ] && test=$D/${case}_held_noisy
        medden evaluate --reference $D/${case}_held --test $test \
            --json $D/${case}_eval_$(echo $m | sed 's|bm3d/|bm3d_|').json > /dev/null
    done
}
# The two neighbor2neighbor runs on CT are refused by adapt since these measurements (the
# noise is correlated between pixels, medden.noise_correlation); they ran before that rule.
adapt ct_n2n ct $D/ct_adapt_noisy --recipe neighbor2neighbor &
careamics $D/npy/ct_adapt $D/npy/ct_held $D/npy/ct_careamics &
wait
adapt ct_n2v2box ct $D/ct_adapt_noisy --recipe n2v2 --set self_supervised.struct=box &
adapt ct_n2n_lr5e-5 ct $D/ct_adapt_noisy --recipe neighbor2neighbor --lr 5e-5 &
wait
python docs/examples/adapt_study.py from-npy $D/npy/ct_careamics $D/ct_held_noisy $D/ct_out/careamics
python docs/examples/adapt_study.py bm3d $D/ct_held_noisy $D/ct_held $D/ct_out/bm3d
# ct_n2v2box kept the base weights (ct 0.4.0): it is the "not adapted" row, run by the same
# code as the adapted bundles
medden denoise $D/ct_held_noisy $D/ct_out/base_via_n2v2box --bundle $D/bundles/ct_n2v2box --quiet
medden denoise $D/ct_held_noisy $D/ct_out/adapted_n2n --bundle $D/bundles/ct_n2n --quiet
medden denoise $D/ct_held_noisy $D/ct_out/adapted_n2n_lr --bundle $D/bundles/ct_n2n_lr5e-5 --quiet
medden denoise $D/ct_held_noisy $D/ct_out/base050 --bundle ct --quiet   # ct 0.5.0 by then
score ct noisy base_via_n2v2box adapted_n2n adapted_n2n_lr careamics bm3d/true_sigma \
    bm3d/true_psd base050
python docs/examples/adapt_tables.py scores ct_sharp_kernel $D/ct_held $O \
    --reference "ct 0.4.0 weights, not adapted" \
    "noisy input=$D/ct_eval_noisy.json" \
    "ct 0.4.0 weights, not adapted=$D/ct_eval_base_via_n2v2box.json" \
    "adapt neighbor2neighbor (defaults)=$D/ct_eval_adapted_n2n.json" \
    "adapt neighbor2neighbor --lr 5e-5=$D/ct_eval_adapted_n2n_lr.json" \
    "CAREamics 0.3.5 N2V2=$D/ct_eval_careamics.json" \
    "BM3D (true σ)=$D/ct_eval_bm3d_true_sigma.json" \
    "BM3D (true noise spectrum)=$D/ct_eval_bm3d_true_psd.json" \
    "ct bundle 0.5.0 (CT noise in its training)=$D/ct_eval_base050.json" \
    --figure ID_0003_AGE_0075_CONTRAST_1_CT.dcm --window 400,40 --crop 192 --crop-at 200,160 \
    --folders noisy=$D/ct_held_noisy "not adapted=$D/ct_out/base_via_n2v2box" \
    "adapted (defaults)=$D/ct_out/adapted_n2n" "adapted (lr 5e-5)=$D/ct_out/adapted_n2n_lr" \
    "CAREamics N2V2=$D/ct_out/careamics" "BM3D (true PSD)=$D/ct_out/bm3d/true_psd"

# Fluorescence: the first 8 fluorescence images (equal channels, mean below 60) of the
# multimodal bundle's held-out split are scored; the first 50 of the others adapt.
python docs/examples/heldout_split.py configs/bundles/multimodal_denoise.yaml $D/mm_held \
    --group folder
python - "$D" <<'PY'
import os, sys
import numpy as np
from PIL import Image
work = sys.argv[1]
held = set(os.listdir(f"{work}/mm_held/microscopy"))
def fluorescence(path):
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(float)
    return (np.abs(rgb[..., 0] - rgb[..., 1]).mean() < 1
            and np.abs(rgb[..., 1] - rgb[..., 2]).mean() < 1 and rgb.mean() < 60)
folder = "/work/shared/data/microscopy"
paths = [f"{folder}/{name}" for name in sorted(os.listdir(folder)) if name.endswith(".png")]
chosen = {"fl_held": [p for p in paths if os.path.basename(p) in held and fluorescence(p)][:8],
          "fl_adapt_clean": [p for p in paths
                             if os.path.basename(p) not in held and fluorescence(p)][:50]}
for name, sources in chosen.items():
    os.makedirs(f"{work}/{name}", exist_ok=True)
    for source in sources:
        os.symlink(source, f"{work}/{name}/{os.path.basename(source)}")
PY
noise=camera:photons=20,monochrome=true
medden noise $D/fl_held $D/fl_held_noisy --noise $noise --seed 1 --quiet
medden noise $D/fl_adapt_clean $D/fl_adapt_noisy --noise $noise --seed 2 --quiet
python docs/examples/adapt_study.py npy $D/fl_held_noisy $D/npy/fl_held
python docs/examples/adapt_study.py npy $D/fl_adapt_noisy $D/npy/fl_adapt
adapt fl_n2n multimodal $D/fl_adapt_noisy --recipe neighbor2neighbor &
careamics $D/npy/fl_adapt $D/npy/fl_held $D/npy/fl_careamics &
wait
python docs/examples/adapt_study.py from-npy $D/npy/fl_careamics $D/fl_held_noisy $D/fl_out/careamics
python docs/examples/adapt_study.py bm3d $D/fl_held_noisy $D/fl_held $D/fl_out/bm3d
medden denoise $D/fl_held_noisy $D/fl_out/base --bundle multimodal --quiet
medden denoise $D/fl_held_noisy $D/fl_out/adapted_n2n --bundle $D/bundles/fl_n2n --quiet
score fl noisy base adapted_n2n careamics bm3d/true_sigma bm3d/true_psd
python docs/examples/adapt_tables.py scores fluorescence_camera $D/fl_held $O \
    --reference "multimodal bundle 0.5.0, not adapted" \
    "noisy input=$D/fl_eval_noisy.json" \
    "multimodal bundle 0.5.0, not adapted=$D/fl_eval_base.json" \
    "adapt neighbor2neighbor (defaults)=$D/fl_eval_adapted_n2n.json" \
    "CAREamics 0.3.5 N2V2=$D/fl_eval_careamics.json" \
    "BM3D (true σ)=$D/fl_eval_bm3d_true_sigma.json" \
    "BM3D (true noise spectrum)=$D/fl_eval_bm3d_true_psd.json"

# The CT adaptation images themselves (their clean slices kept aside until now): the base
# weights (the n2v2 run kept them) against the adapted bundles.
for b in ct_n2v2box ct_n2n ct_n2n_lr5e-5; do
    medden denoise $D/ct_adapt_noisy $D/ct_adapt_out/$b --bundle $D/bundles/$b --quiet
    medden evaluate --reference $D/ct_adapt_clean --test $D/ct_adapt_out/$b \
        --json $D/ct_adapt_eval_$b.json > /dev/null
done
python docs/examples/adapt_tables.py scores ct_sharp_kernel_adaptation_images $D/ct_adapt_clean $O \
    --reference "ct 0.4.0 weights (the n2v2 run that kept them)" \
    "ct 0.4.0 weights (the n2v2 run that kept them)=$D/ct_adapt_eval_ct_n2v2box.json" \
    "adapt neighbor2neighbor (defaults)=$D/ct_adapt_eval_ct_n2n.json" \
    "adapt neighbor2neighbor --lr 5e-5=$D/ct_adapt_eval_ct_n2n_lr5e-5.json"
