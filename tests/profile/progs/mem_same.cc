// mem_same.cc - uses realloc, posix_memalign, calloc, reallocarray, aligned_alloc,
// memalign, valloc, C++ new/delete and dlopen, and prints what it computes: the output
// must be the same with and without `sonde mem` (tests/profile/mem_test.sh).
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <map>
#include <string>
#include <vector>

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 1099511628211ull;
}

int main(int argc, char **argv)
{
	uint64_t h = 1469598103934665603ull;
	// realloc growth
	char *s = NULL;
	size_t len = 0;
	for (int i = 0; i < 2000; i++) {
		s = (char *)realloc(s, len + 17);
		memset(s + len, 'a' + i % 26, 17);
		len += 17;
	}
	for (size_t i = 0; i < len; i++)
		h = mix(h, (unsigned char)s[i]);
	free(s);
	// aligned allocations
	void *a = NULL;
	if (posix_memalign(&a, 64, 1000) == 0) {
		h = mix(h, (uintptr_t)a % 64);
		free(a);
	}
	void *b = aligned_alloc(128, 1024);
	h = mix(h, (uintptr_t)b % 128);
	free(b);
	void *m = memalign(256, 512);
	h = mix(h, (uintptr_t)m % 256);
	free(m);
	void *v = valloc(100);
	h = mix(h, (uintptr_t)v % 4096);
	free(v);
	int *z = (int *)calloc(1000, sizeof(int));
	for (int i = 0; i < 1000; i++)
		h = mix(h, (uint64_t)z[i]);
	z = (int *)reallocarray(z, 2000, sizeof(int));
	z[1999] = 7;
	h = mix(h, (uint64_t)z[1999]);
	free(z);
	// failed allocations: NULL with ENOMEM, and the ones after them still work
	volatile size_t huge = SIZE_MAX / 2;
	errno = 0;
	h = mix(h, calloc(huge, 4) == NULL);
	h = mix(h, errno == ENOMEM);
	errno = 0;
	h = mix(h, malloc(huge * 2) == NULL);
	h = mix(h, errno == ENOMEM);
	for (int i = 0; i < 100; i++) {
		char *c = (char *)calloc(i + 1, 64);
		h = mix(h, (uint64_t)c[i * 64]);
		free(c);
	}
	// an anonymous mapping
	char *big = (char *)mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	big[12345] = 5;
	h = mix(h, (uint64_t)big[12345]);
	munmap(big, 1 << 20);
	// C++
	std::map<std::string, std::vector<int>> words;
	for (int i = 0; i < 3000; i++) {
		std::string k = "k" + std::to_string(i % 97);
		words[k].push_back(i);
	}
	for (auto &kv : words) {
		h = mix(h, kv.first.size());
		for (int x : kv.second)
			h = mix(h, (uint64_t)x);
	}
	int *arr = new int[500];
	for (int i = 0; i < 500; i++)
		arr[i] = i * i;
	h = mix(h, (uint64_t)arr[499]);
	delete[] arr;
	// dlopen
	if (argc > 1) {
		void *lib = dlopen(argv[1], RTLD_NOW);
		if (!lib) {
			printf("dlopen failed: %s\n", dlerror());
			return 1;
		}
		unsigned (*work)(unsigned) = (unsigned (*)(unsigned))dlsym(lib, "plugin_work");
		h = mix(h, work(3));
		dlclose(lib);
	}
	printf("hash %016llx\n", (unsigned long long)h);
	return 0;
}
