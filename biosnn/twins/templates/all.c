/* Brian2 templates stateupdate, run_regularly: every element (b, i) of a group, in chunks of a row (the
   chunks split among threads where threads= allows and the group is large) */
$signature {
$head
    const int64_t _cpb = ($n + _BIO_CHUNK - 1) / _BIO_CHUNK;
    const int64_t _nc = _B * _cpb;
$parallel
    for (int64_t _c = 0; _c < _nc; _c++) {
    const int64_t _b = _c / _cpb;
    const int64_t _i0 = (_c - _b * _cpb) * _BIO_CHUNK;
    const int64_t _i1 = _i0 + _BIO_CHUNK < $n ? _i0 + _BIO_CHUNK : $n;
    for (int64_t _i = _i0; _i < _i1; _i++) {
$body
    }
    }
}
