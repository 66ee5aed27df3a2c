/* gen: a CGI program that writes as many mebibytes of body as its query
 * string says (default 256). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static char buf[1 << 16];
	const char *q = getenv("QUERY_STRING");
	long mib = q && *q ? atol(q) : 256;
	memset(buf, 'x', sizeof buf);
	printf("Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n\r\n", (long long)mib << 20);
	fflush(stdout);
	for (long i = 0; i < mib * 16; i++)
		if (write(1, buf, sizeof buf) != sizeof buf)
			return 1;
	return 0;
}
