/* spawn PROGRAM SECONDS: runs PROGRAM with posix_spawn + waitpid from two
 * threads for SECONDS and prints the spawns per second: the most requests
 * per second any fork-per-request gateway can reach with this program on
 * this machine. */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;
static const char *prog;
static double seconds;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	long *count = arg;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	char *argv[] = {(char *)prog, NULL};
	double end = now() + seconds;
	while (now() < end) {
		pid_t pid;
		int status;
		if (posix_spawn(&pid, prog, &fa, NULL, argv, environ) != 0)
			exit(2);
		waitpid(pid, &status, 0);
		(*count)++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: spawn PROGRAM SECONDS\n");
		return 2;
	}
	prog = argv[1];
	seconds = atof(argv[2]);
	pthread_t t[2];
	long counts[2] = {0, 0};
	double start = now();
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, &counts[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("%.0f\n", (counts[0] + counts[1]) / (now() - start));
	return 0;
}
