# Draws requests/s and latency against concurrent clients from the data
# files report.py writes to DIR/plot. Called by bench/run.sh as
#   gnuplot -e "dir='DIR'; keys='rsa2048 ec256'" bench/plot.gp
# Series whose file is missing (a tool or system that was skipped) are
# left out.

set terminal pngcairo size 1100,700 noenhanced font ",10"
set logscale x
set xtics (1, 10, 50, 100)
set xlabel "concurrent clients"
set grid
set key outside right top

file(sys, tool, k) = dir . '/plot/' . sys . '-' . tool . '-' . k . '.dat'
file_ok(f) = system('test -s ' . f . ' && echo 1 || echo 0') + 0

do for [tool in "wrk loadtest"] {
    if (file_ok(file('hsm4ssl', tool, word(keys, 1)))) {
        set output dir . '/requests-' . tool . '.png'
        set title 'Issuance requests/s (' . tool . ', medians)'
        set ylabel 'requests/s'
        unset logscale y
        plot for [k in keys] file('hsm4ssl', tool, k) using 1:2 \
                 with linespoints lw 2 title 'HSM4SSL ' . k, \
             for [k in keys] (file_ok(file('cfssl', tool, k)) ? \
                 file('cfssl', tool, k) : '/dev/null') using 1:2 \
                 with linespoints dt 2 title 'CFSSL ' . k

        set output dir . '/latency-' . tool . '.png'
        set title 'Issuance latency p50 (solid) and p99 (dashed), ' . tool
        set ylabel 'ms'
        set logscale y
        plot for [k in keys] file('hsm4ssl', tool, k) using 1:3 \
                 with linespoints lw 2 title 'HSM4SSL p50 ' . k, \
             for [k in keys] file('hsm4ssl', tool, k) using 1:4 \
                 with linespoints lw 2 dt 2 title 'HSM4SSL p99 ' . k, \
             for [k in keys] (file_ok(file('cfssl', tool, k)) ? \
                 file('cfssl', tool, k) : '/dev/null') using 1:3 \
                 with linespoints title 'CFSSL p50 ' . k, \
             for [k in keys] (file_ok(file('cfssl', tool, k)) ? \
                 file('cfssl', tool, k) : '/dev/null') using 1:4 \
                 with linespoints dt 2 title 'CFSSL p99 ' . k
        unset logscale y
    }
}
