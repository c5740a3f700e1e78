/* Brian2 template reset: the spike list (b, i) only */
$signature {
$head
    for (int64_t _k = 0; _k < _n; _k++) {
        const int64_t _b = _sb[_k]; const int64_t _i = _si[_k];
$body
    }
}
