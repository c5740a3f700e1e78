/* Brian2 template synapses (on_pre, on_post, any delays). The spike ring: slot s holds the spikes pushed
   s steps ago (counts, batch and neuron lists); oldest push first (longest delay), then source, then
   synapse: Brian2's SpikeQueue order. Synapses are sorted by (source, delay, index); a binary search
   finds a delay's range. */
$signature {
$head
    for (int64_t _d = _dmax; _d >= _dmin; _d--) {
    int64_t _slot = (_pos - _d) % _L; if (_slot < 0) _slot += _L;
    const int64_t _n = _counts[_slot]; if (!_n) continue;
    const int64_t* _sb = (const int64_t*)_sbs[_slot];
    const int64_t* _si = (const int64_t*)_sis[_slot];
    for (int64_t _k = 0; _k < _n; _k++) {
    const int64_t _b = _sb[_k]; const int64_t _src = _si[_k] - _start;
    if (_src < 0 || _src >= _nsrc) continue;
    int64_t _lo = _ptr[_src], _hi = _ptr[_src + 1];
    if (_dmin != _dmax) {
        int64_t _a = _lo, _z = _hi;
        while (_a < _z) { int64_t _m = (_a + _z) / 2; if (_dl[_m] < _d) _a = _m + 1; else _z = _m; }
        _lo = _a;
    }
    for (int64_t _p = _lo; _p < _hi && _dl[_p] == _d; _p++) {
        const int64_t _i = _syn[_p];
$body
    }
    }
    }
}
