/* Brian2 template threshold. Pass 1 (vectorised, in chunks that threads may share): the condition of every
   element; pass 2 (one thread): the spike list in nonzero order, eight conditions at a time, and Brian2's
   refractoriness for the spiking neurons */
$signature {
$head
$chunks
$body
        _out[_b * $n + _i] = _cond;
    }
    }
    int64_t _count = 0;
    const int64_t _total = _B * $n;
    for (int64_t _w = 0; _w < _total; _w += 8) {
        uint64_t _word = 0;
        if (_w + 8 <= _total) memcpy(&_word, _out + _w, 8); else _word = 1;
        if (!_word) continue;
        const int64_t _end = _w + 8 < _total ? _w + 8 : _total;
        for (int64_t _k = _w; _k < _end; _k++) {
            if (!_out[_k]) continue;
            _sb[_count] = _k / $n; _si[_count] = _k % $n; _count++;
$refractory
        }
    }
    return _count;
}
