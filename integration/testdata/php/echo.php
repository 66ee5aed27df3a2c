<?php
// The request body back, with the SHA-256 of what PHP read.
$in = file_get_contents('php://input');
header('Content-Type: application/octet-stream');
header('X-Sha256: ' . hash('sha256', $in));
echo $in;
