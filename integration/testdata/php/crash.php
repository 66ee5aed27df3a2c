<?php
// The worker kills itself in the middle of a request, as a crash in an
// extension would, after ms milliseconds.
usleep((int)($_GET['ms'] ?? 0) * 1000);
posix_kill(getmypid(), 9);
