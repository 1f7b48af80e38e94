build-wft/obj/tests/tools/agetool.o: tests/tools/agetool.c \
 lib/crypto/age.h lib/base/buf.h lib/base/mem.h lib/base/rnd.h
lib/crypto/age.h:
lib/base/buf.h:
lib/base/mem.h:
lib/base/rnd.h:
