# Sourced by the benchmark scripts (kernel_families.sh, deploy_targets.sh): what each of them needs to say
# about the machine and to start from. Run from the repository root, inside its .venv.

# The CPU's model, cores and the flags that pick kernels, as the scripts' cpu.txt records them.
cpu_summary() {
    lscpu | grep -E "^Model name|^CPU\(s\)"
    echo "kernel flags: $(grep -m1 -ow -E 'avx2|avx512f|avx512_vnni|avx512_bf16|amx_tile|amx_bf16|amx_int8' \
        /proc/cpuinfo | sort -u | tr '\n' ' ')"
}

# The embedded default dataset at $1, synthesised (12000 triplets, seed 0: make demo's) when absent.
ensure_synth() {
    [[ -f "$1/train.csv" ]] || python -m fec.cli.data synth --out "$1" --triplets 12000 --seed 0
}

# The environment assignments of a kernel family: benchmarks/learning_curves.py's KERNELS, the one list.
kernel_env() {
    python -c "import sys; sys.path.insert(0, 'benchmarks'); from learning_curves import KERNELS
print(' '.join(f'{name}={value}' for name, value in KERNELS[sys.argv[1]].items() if value is not None))" "$1"
}
