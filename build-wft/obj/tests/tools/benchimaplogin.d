build-wft/obj/tests/tools/benchimaplogin.o: tests/tools/benchimaplogin.c \
 lib/base/mem.h
lib/base/mem.h:
