/* Brian2 templates stateupdate, run_regularly: every element (b, i) of a group */
$signature {
$head
    for (int64_t _b = 0; _b < _B; _b++) {
    for (int64_t _i = 0; _i < $n; _i++) {
$body
    }
    }
}
