/* Brian2 templates stateupdate, run_regularly: every element (b, i) of a group, in chunks of a row (the
   chunks split among threads where threads= allows and the group is large) */
$signature {
$head
$chunks
$body
    }
    }
}
