build-dev/obj/lib/login/loginmain.o: lib/login/loginmain.c \
 lib/crypto/kdf_hugepages.h lib/sys/log.h lib/sys/server.h lib/sys/conf.h \
 sandbox/sandbox.h lib/svc/confine.h lib/sys/conf.h lib/login/login.h \
 lib/sys/conn.h lib/base/buf.h lib/sys/io.h
lib/crypto/kdf_hugepages.h:
lib/sys/log.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/svc/confine.h:
lib/sys/conf.h:
lib/login/login.h:
lib/sys/conn.h:
lib/base/buf.h:
lib/sys/io.h:
