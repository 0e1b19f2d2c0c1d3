#!/bin/sh
# Zero-shot against BM3D (true sigma) and the bundles on one image per modality (docs/adapt.md).
# Usage: sh docs/examples/adapt_zero_shot.sh CLEAN/ WORK/   (CLEAN/ has ct/ mri/ xray/ skin/
# microscopy/, one image each); the seconds per image are in WORK/<method>/<modality>/report.json
set -e
clean=$1 work=$2
noisy=$work/noisy
mkdir -p "$work/eval"
[ -d "$noisy" ] || medden noise "$clean" "$noisy" --noise gaussian:sigma=25 --seed 1 --quiet
for modality in ct mri xray skin microscopy; do
    case $modality in
        skin|microscopy) bundle=multimodal ;;
        *) bundle=$modality ;;
    esac
    medden denoise "$noisy/$modality" "$work/bundle/$modality" --bundle $bundle --quiet
    for model in zero_shot zero_shot:features=32 bm3d:sigma=25; do
        medden denoise "$noisy/$modality" "$work/$model/$modality" --model $model --quiet
    done
    for method in identity bundle zero_shot zero_shot:features=32 bm3d:sigma=25; do
        folder=$work/$method/$modality
        [ "$method" = identity ] && folder=$noisy/$modality
        medden evaluate --reference "$clean/$modality" --test "$folder" \
            --json "$work/eval/$method-$modality.json" > /dev/null
    done
done
