build-wft/obj/tests/tools/sandboxprobe.o: tests/tools/sandboxprobe.c \
 /usr/include/sqlcipher/sqlite3.h lib/sys/log.h sandbox/sandbox.h \
 lib/sys/tls.h
/usr/include/sqlcipher/sqlite3.h:
lib/sys/log.h:
sandbox/sandbox.h:
lib/sys/tls.h:
