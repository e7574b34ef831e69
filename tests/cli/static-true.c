/* Linked with -static: no PT_INTERP, so LD_PRELOAD cannot reach it. */
int main(void)
{
	return 0;
}
