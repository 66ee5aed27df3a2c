/* drain: a CGI program that reads its whole body and says how long it was. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	static char buf[1 << 16];
	long long n = 0;
	ssize_t k;
	while ((k = read(0, buf, sizeof buf)) > 0)
		n += k;
	printf("Content-Type: text/plain\r\n\r\n%lld\n", n);
	return k < 0;
}
