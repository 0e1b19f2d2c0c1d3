#!/bin/sh
# Trust checks of docs/adapt.md: 'medden denoise --qc' with the bundles (good outputs) and
# with known failures (identity, Gaussian blurs) on held-out images of each modality with
# Gaussian noise (sigma 10 and 25); then adapt_qc_table.py counts the flags.
# Usage: sh docs/examples/adapt_qc_runs.sh CLEAN/ WORK/   (CLEAN/ has xray/ mri/ ct/ rgb/)
set -e
clean=$1 work=$2
for sigma in 10 25; do
    noisy=$work/noisy_s$sigma
    [ -d "$noisy" ] || medden noise "$clean" "$noisy" --noise gaussian:sigma=$sigma --seed 3 --quiet
    for modality in xray mri ct rgb; do
        bundle=$modality
        [ "$modality" = rgb ] && bundle=multimodal
        medden denoise "$noisy/$modality" "$work/s$sigma/bundle/$modality" --bundle $bundle --qc --quiet
        for model in identity gaussian_filter:sigma=1.5 gaussian_filter:sigma=3; do
            medden denoise "$noisy/$modality" "$work/s$sigma/$model/$modality" --model $model \
                --qc --quiet
        done
    done
done
