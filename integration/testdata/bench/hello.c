/* The smallest CGI program: one write of a complete response. */
#include <unistd.h>

int main(void)
{
	static const char resp[] = "Content-Type: text/plain\r\n\r\nHello, world!\n";
	return write(1, resp, sizeof resp - 1) == sizeof resp - 1 ? 0 : 1;
}
